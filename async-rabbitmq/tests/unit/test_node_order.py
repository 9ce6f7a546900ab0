"""Which node a Part B client tries after a node dies: never the dead one first, and every attempt bounded.

Under Docker a killed node's address refuses nothing (the container and its IP are gone) and its name may be
slow to fail, so a client that tries it first on every reconnect stalls until it is back. Fakes stand in for
pika: a node is "dead" when its fake connection raises, as a real attempt would after its timeout."""
import socket
import threading

import pika
import pika.exceptions
import pytest

from async_rabbitmq.messaging import amqp
from async_rabbitmq.messaging.client import AsyncClient
from async_rabbitmq.messaging.nodes import NodeOrder
from common.settings import Settings

pytestmark = pytest.mark.unit

SETTINGS = Settings(rabbitmq_nodes="rabbit@a=127.0.0.1:5672,rabbit@b=127.0.0.1:5682,rabbit@c=127.0.0.1:5692",
                    reconnect_max_s=0.01)


def test_a_fresh_client_starts_at_node_1_and_a_failed_node_goes_last():
    order = NodeOrder(3, quarantine_s=30)
    assert order.order(now=0) == [0, 1, 2]
    order.failed(0, now=1)  # the client's node died
    assert order.order(now=2) == [1, 2, 0]
    order.failed(2, now=3)  # node 3 refused too (not the start node: the rotation stays)
    assert order.order(now=4) == [1, 0, 2]  # the recently failed last, the older failure first among them
    order.succeeded(1)
    assert order.order(now=5) == [1, 0, 2]  # stays on the node that works
    assert order.order(now=32) == [1, 0, 2]  # node 1's quarantine is over (31 s), node 3's is not (29 s)
    assert order.order(now=100) == [1, 2, 0]  # all forgiven: the rotation from the node that works


def test_a_node_that_failed_long_ago_is_tried_in_turn_again():
    order = NodeOrder(3, quarantine_s=30)
    order.failed(0, now=0)
    order.failed(1, now=0)
    order.failed(2, now=0)
    assert order.order(now=1) == [0, 1, 2]  # every node failed at once: the rotation wraps back to node 1
    assert order.order(now=31) == [0, 1, 2]


class FakeCluster:
    """pika's two connection classes over three fake nodes (by port); `dead` ports raise like a timed-out connect."""

    def __init__(self, client_box: dict, kill_after_first: int, rounds: int):
        self.dead: set[int] = set()
        self.tried: list[list[int]] = []  # per declare: the ports in the order tried
        self.connected_to: list[int] = []
        self.box, self.kill, self.rounds = client_box, kill_after_first, rounds

    def blocking(self, params):
        attempts = params if isinstance(params, list) else [params]
        self.tried.append([])
        for p in attempts:
            self.tried[-1].append(p.port)
            if p.port not in self.dead:
                return FakeBlocking()
        raise pika.exceptions.AMQPConnectionError("no answer")

    def select(self, params, on_open_callback, on_open_error_callback, on_close_callback):
        cluster, client = self, self.box["client"]

        class Loop:
            def start(self):
                cluster.connected_to.append(params.port)
                if params.port in cluster.dead:
                    return
                client.connected.set()
                if len(cluster.connected_to) == 1:
                    cluster.dead.add(cluster.kill)  # the node this client is on dies
                if len(cluster.connected_to) >= cluster.rounds:
                    client._stopping.set()

        return type("Conn", (), {"ioloop": Loop()})()


class FakeBlocking:
    def channel(self):
        return None

    def close(self):
        pass


def test_after_its_node_dies_a_client_never_tries_it_first(monkeypatch):
    box: dict = {}
    # node 1 dies under the client; its connection to node 2 is then lost too (say, a nack: it reconnects)
    cluster = FakeCluster(box, kill_after_first=5672, rounds=3)
    monkeypatch.setattr(pika, "BlockingConnection", cluster.blocking)
    monkeypatch.setattr(pika, "SelectConnection", cluster.select)
    monkeypatch.setattr(amqp.topology, "declare", lambda channel, queue_type: None)
    box["client"] = client = AsyncClient(SETTINGS)
    client.run()
    assert cluster.connected_to == [5672, 5682, 5692]  # a fresh client starts on node 1, then moves on
    assert cluster.tried[1:] == [[5682], [5692]], cluster.tried  # the dead node not tried first: no wasted attempt


def test_each_attempt_on_a_node_is_bounded():
    params = amqp.parameters(SETTINGS)
    assert params.connection_attempts == 1
    assert params.socket_timeout == amqp.CONNECT_TIMEOUT_S < params.stack_timeout == amqp.HANDSHAKE_TIMEOUT_S
    assert params.stack_timeout < pika.ConnectionParameters().stack_timeout  # pika's own default is 15 s


def test_a_name_that_does_not_resolve_in_time_is_given_up(monkeypatch):
    release = threading.Event()

    def slow_lookup(*_args, **_kwargs):
        release.wait()  # a DNS server that never answers while the test runs
        raise OSError("too late")

    monkeypatch.setattr(amqp.socket, "getaddrinfo", slow_lookup)
    try:
        with pytest.raises(TimeoutError):
            amqp.resolve("rabbitmq", timeout=0.05)
        assert amqp.resolve("10.0.0.7", timeout=0.05) == "10.0.0.7"  # an address needs no lookup
    finally:
        release.set()


def test_a_node_whose_name_does_not_resolve_does_not_hide_the_others(monkeypatch):
    """The cause seen under Docker: a killed container's name stops resolving at once ("Name or service not
    known"), and pika's connection workflow, given the list of nodes, ends its whole cycle on the first name
    that does not resolve instead of trying the next node. So the clients retried node 1 alone until it was
    back. Every name fails here: each node must still be looked up, once per round."""
    looked_up: list[str] = []

    def no_such_name(host, *_args, **_kwargs):
        looked_up.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    client = AsyncClient(Settings(rabbitmq_nodes="rabbit@rabbitmq,rabbit@rabbitmq-2,rabbit@rabbitmq-3"))
    monkeypatch.setattr(client, "_backoff", lambda *_args: client._stopping.set())  # one round, then stop
    client.run()
    assert looked_up == ["rabbitmq", "rabbitmq-2", "rabbitmq-3"]
    looked_up.clear()
    with pytest.raises(pika.exceptions.AMQPConnectionError):  # the one-shot tools' connection (redrive, lab)
        amqp.blocking_connection(client.settings)
    assert looked_up == ["rabbitmq", "rabbitmq-2", "rabbitmq-3"]
