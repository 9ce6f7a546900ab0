"""Part B's compose cluster (docker ring, after the single-node checks): docker-compose.cluster.yml over the part's
compose file starts three RabbitMQ nodes that form one cluster, and the services declare quorum queues on all
three. The failover scenario runs against it at test scale: kill -9 the node that leads `inventory_orders` (the
engine's SIGKILL, the process frozen first), start it again; the same guarantees as the native failover test."""
import pika
import pytest
import requests

from async_rabbitmq.lab import failover as fo
from async_rabbitmq.lab.client import Client
from async_rabbitmq.messaging.nodes import nodes
from labkit import dockercheck as dc

pytestmark = pytest.mark.docker

N, RATE, DOWN_S = 300, 30.0, 8.0  # the native test's scale (failover.run_both, full=False)


@pytest.fixture(scope="module")
def lab(docker_cluster):
    return Client(docker_cluster.settings)


def test_three_nodes_one_cluster_quorum_queues_on_all(docker_cluster, lab):
    names = [n.nodename for n in nodes(lab.settings)]
    assert names == ["rabbit@rabbitmq", "rabbit@rabbitmq-2", "rabbit@rabbitmq-3"]
    for node in nodes(lab.settings):  # each node's own management API sees the same three running members
        members = {n["name"]: n["running"] for n in requests.get(
            f"http://{node.host}:{node.mgmt_port}/api/nodes", auth=lab.auth, timeout=10).json()}
        assert members == dict.fromkeys(names, True), (node.nodename, members)
    q = lab.queue_info()
    assert q["type"] == "quorum" and sorted(q["members"]) == names and q["arguments"].get("x-dead-letter-exchange")


def test_every_port_on_loopback_and_guest_refused_on_every_node(docker_cluster, lab):
    published = dc.published(docker_cluster)
    assert {p for svc in ("rabbitmq", "rabbitmq-2", "rabbitmq-3") for _, p in published[svc]} == \
        {5672, 5682, 5692, 15672, 15682, 15692, 15679}  # 15679: node 1's rabbitmq_prometheus (the base file's)
    assert all(ip == "127.0.0.1" for bindings in published.values() for ip, _ in bindings), published
    for node in nodes(lab.settings):
        for user, password, ok in (("guest", "guest", False), (lab.settings.rabbitmq_user,
                                                               lab.settings.rabbitmq_password, True)):
            params = pika.ConnectionParameters(node.host, node.amqp_port, connection_attempts=1, socket_timeout=5,
                                               credentials=pika.PlainCredentials(user, password))
            try:
                pika.BlockingConnection(params).close()
                logged_in = True
            except pika.exceptions.AMQPConnectionError:  # ProbableAuthenticationError, ACCESS_REFUSED
                logged_in = False
            assert logged_in is ok, (node.nodename, user)


@pytest.fixture(scope="module")
def result(docker_cluster, lab):
    return fo.node_failover(docker_cluster, lab, N, RATE, down_s=DOWN_S)


def _seen(r) -> str:
    """What a failed assertion shows: the run's timeline and who was where."""
    return (f"timeline {r.timeline}; killed {r.killed_service} ({r.killed_node}); leader before {r.leader_before}, "
            f"at the kill {r.leader_at_kill}, "
            f"while down {r.leader_while_down}, after {r.leader_after}; clients {r.clients_at_kill}; "
            f"stall {r.stall_s} s; counts {r.counts}; records {r.reservation_records}")


def test_node_killed_nothing_lost_nothing_reserved_twice(result):
    r = result
    assert r.queue_type == "quorum", _seen(r)
    assert r.unmet() == [], _seen(r)  # every order accepted and final, one reservation each, stock exact


def test_new_leader_and_orders_flow_while_the_node_is_down(result):
    r = result
    assert r.killed_service == "rabbitmq" and r.leader_while_down not in (None, r.killed_node), _seen(r)
    assert r.leader_change_s is not None and r.kill_s < r.leader_change_s < r.restart_begun_s, _seen(r)
    assert r.leader_at_kill == r.killed_node, _seen(r)  # the broker's answer at the kill, not the choice restated
    assert r.flowed_while_down, _seen(r)  # orders were final again before the node came back
    assert len(r.members_online_after) == 3, _seen(r)
    # the killed node held every client connection (node 1, first in RABBITMQ_NODES): they failed over
    assert r.clients_at_kill and all(c.endswith("@" + r.killed_node) for c in r.clients_at_kill), _seen(r)
