"""pika plumbing every Part B process shares: connection parameters, outgoing messages, blocking helpers."""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import takewhile
from typing import TypeVar

import orjson
import pika

from async_rabbitmq.messaging import topology
from async_rabbitmq.messaging.nodes import Node, nodes, queue_type
from common.settings import Settings


def parameters(settings: Settings, node: Node | None = None) -> pika.ConnectionParameters:
    """How to reach one node (node 1 by default)."""
    node = node or nodes(settings)[0]
    return pika.ConnectionParameters(
        host=node.host, port=node.amqp_port,
        credentials=pika.PlainCredentials(settings.rabbitmq_user, settings.rabbitmq_password),
        heartbeat=settings.rabbitmq_heartbeat_s, blocked_connection_timeout=60,
        connection_attempts=1, socket_timeout=5,
        # the management UI labels each connection with the process's name (SERVICE_NAME, set by the runtime)
        client_properties={"connection_name": settings.service_name},
    )


def all_parameters(settings: Settings) -> list[pika.ConnectionParameters]:
    """Every node, in order: pika's BlockingConnection tries each in turn; the async client rotates through them."""
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
    def event(cls, exchange: str, routing_key: str, event: dict) -> Outgoing:
        # orjson: a tenth of json.dumps's time; the message id is the event's own id (the consumers' dedupe key)
        return cls(exchange, routing_key, orjson.dumps(event), event.get("event_id"), event.get("event_type"))

    def properties(self) -> pika.BasicProperties:
        return pika.BasicProperties(
            delivery_mode=PERSISTENT, content_type="application/json",
            message_id=self.message_id, type=self.type, headers=self.headers or None)


def blocking_connection(settings: Settings) -> pika.BlockingConnection:
    return pika.BlockingConnection(all_parameters(settings))


def declare_topology(settings: Settings) -> None:
    """Connect, declare the whole topology (idempotent), disconnect."""
    conn = blocking_connection(settings)
    try:
        topology.declare(conn.channel(), queue_type(settings))
    finally:
        conn.close()
