"""pika plumbing every Part B process shares: connection parameters, outgoing messages, blocking helpers."""
from __future__ import annotations

import ipaddress
import socket
import threading
from dataclasses import dataclass, field, replace
from itertools import takewhile
from typing import TYPE_CHECKING, TypeVar

import pika
import pika.exceptions

from async_rabbitmq.messaging import topology
from async_rabbitmq.messaging.nodes import Node, nodes, queue_type
from common.settings import Settings

if TYPE_CHECKING:
    from async_rabbitmq.messaging.messages import InventoryResult

# How long one attempt on one node may take, so a client moves on to a live node within seconds. A live node
# accepts a TCP connection in milliseconds; a dead container's address may answer nothing at all (no refusal),
# and pika's default stack_timeout (connect + AMQP handshake) is 15 s. Name lookups have no timeout in pika or
# getaddrinfo, and Docker's DNS can take seconds to fail for a stopped container's name: `resolve` bounds them.
CONNECT_TIMEOUT_S = 3
HANDSHAKE_TIMEOUT_S = 8
RESOLVE_TIMEOUT_S = 2


def parameters(settings: Settings, node: Node | None = None) -> pika.ConnectionParameters:
    """How to reach one node (node 1 by default)."""
    node = node or nodes(settings)[0]
    return pika.ConnectionParameters(
        host=node.host, port=node.amqp_port,
        credentials=pika.PlainCredentials(settings.rabbitmq_user, settings.rabbitmq_password),
        heartbeat=settings.rabbitmq_heartbeat_s, blocked_connection_timeout=60,
        connection_attempts=1, socket_timeout=CONNECT_TIMEOUT_S, stack_timeout=HANDSHAKE_TIMEOUT_S,
        # the management UI labels each connection with the process's name (SERVICE_NAME, set by the runtime)
        client_properties={"connection_name": settings.service_name},
    )


def resolve(host: str, timeout: float = RESOLVE_TIMEOUT_S) -> str:
    """The first address of `host`, or OSError once `timeout` has passed (the lookup runs on in a daemon thread)."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    found: dict = {}

    def lookup() -> None:
        try:
            found["address"] = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][4][0]
        except OSError as exc:
            found["error"] = exc

    worker = threading.Thread(target=lookup, name=f"resolve-{host}", daemon=True)
    worker.start()
    worker.join(timeout)
    if "address" in found:
        return found["address"]
    raise found.get("error") or TimeoutError(f"no address for {host} within {timeout:g} s")


def resolved_parameters(settings: Settings, node: Node) -> pika.ConnectionParameters:
    """`parameters` for one node, its name looked up within RESOLVE_TIMEOUT_S (OSError when that fails)."""
    return parameters(settings, replace(node, host=resolve(node.host)))


def all_parameters(settings: Settings) -> list[pika.ConnectionParameters]:
    """Every node's parameters, in order (names not resolved)."""
    return [parameters(settings, node) for node in nodes(settings)]


T = TypeVar("T")


def pop_confirmed(inflight: dict[int, T], method) -> list[T]:
    """What one publisher confirm (a Basic.Ack) covers: pops and returns the values of the confirmed publish
    sequence numbers. `multiple` covers every seq up to the tag; `inflight` is in publish order."""
    if method.multiple:
        seqs = list(takewhile(lambda seq: seq <= method.delivery_tag, inflight))
    else:
        seqs = [method.delivery_tag]
    return [v for v in (inflight.pop(seq, None) for seq in seqs) if v is not None]


PERSISTENT = pika.DeliveryMode.Persistent.value  # 2; the plain int skips an enum lookup per message


@dataclass(frozen=True)
class Outgoing:
    """A message to publish (persistent, with confirms) before the delivery that caused it is acked."""

    exchange: str
    routing_key: str
    body: bytes
    message_id: str | None = None
    type: str | None = None
    headers: dict = field(default_factory=dict, hash=False)

    @classmethod
    def event(cls, exchange: str, routing_key: str, event: InventoryResult) -> Outgoing:
        # the message id is the event's own id (the consumers' dedupe key)
        return cls(exchange, routing_key, event.to_bytes(), event.event_id, event.event_type)

    def properties(self) -> pika.BasicProperties:
        return pika.BasicProperties(
            delivery_mode=PERSISTENT, content_type="application/json",
            message_id=self.message_id, type=self.type, headers=self.headers or None)


def blocking_connection(settings: Settings) -> pika.BlockingConnection:
    """A connection to the first node, in order, that takes one. One node at a time rather than pika's list:
    pika's connection workflow ends its whole cycle on the first name that does not resolve (a stopped
    container's, under Docker) without trying the other nodes."""
    errors = []
    for node in nodes(settings):
        try:
            return pika.BlockingConnection(resolved_parameters(settings, node))
        except (pika.exceptions.AMQPConnectionError, OSError) as exc:
            errors.append(f"{node.nodename}: {type(exc).__name__} {exc}".strip())
    raise pika.exceptions.AMQPConnectionError("; ".join(errors))


def declare_topology(settings: Settings, params: pika.ConnectionParameters | None = None) -> None:
    """Connect (to `params`, else to the first node that answers), declare the whole topology (idempotent),
    disconnect."""
    conn = pika.BlockingConnection(params) if params is not None else blocking_connection(settings)
    try:
        topology.declare(conn.channel(), queue_type(settings))
    finally:
        conn.close()
