"""Part B's whole RabbitMQ topology, in one place: exchanges, queues, dead-lettering and bindings.

`declare(channel)` is idempotent (same names, same arguments), and every process
that publishes or consumes calls it on each (re)connect, so the services can
start in any order and a fresh broker (wiped after a restart) is rebuilt.
Everything is durable: exchanges and queues survive a broker restart, and the
publishers mark every message persistent.

`orders` is a fanout (the original lab's architecture): a publish with any routing
key, "" included, reaches `inventory_orders`. A broker kept from an earlier version
holds `orders` as a direct exchange; RabbitMQ refuses to redeclare it with another
type (406 PRECONDITION_FAILED), so `declare` deletes that exchange and declares it
again with the right type; the bindings that follow restore `inventory_orders`.
Messages are never stored in an exchange, so nothing queued is lost; a publish in that
instant is unroutable, which the outbox relay detects (mandatory) and retries.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pika.exceptions

log = logging.getLogger("topology")

# Orders: order-service -> inventory-service.
ORDERS_EXCHANGE = "orders"
ORDER_PLACED_KEY = "order.placed"  # sent for readability; the fanout ignores it
INVENTORY_ORDERS = "inventory_orders"
ORDERS_DLX = "orders_dlx"
ORDERS_DLQ = "orders_dlq"

# Inventory results: inventory-service -> order-service (status) and notification-service.
INVENTORY_EVENTS = "inventory_events"
RESERVED_KEY = "inventory.reserved"
FAILED_KEY = "inventory.failed"
ORDER_STATUS_QUEUE = "order_status"
NOTIFICATIONS_QUEUE = "notifications"
EVENTS_DLX = "inventory_events_dlx"
EVENTS_DLQ = "inventory_events_dlq"


@dataclass(frozen=True)
class Exchange:
    name: str
    type: str


@dataclass(frozen=True)
class Queue:
    name: str
    arguments: dict = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Binding:
    queue: str
    exchange: str
    routing_key: str


EXCHANGES = (
    Exchange(ORDERS_EXCHANGE, "fanout"),  # every queue bound to it gets every OrderPlaced, whatever its key
    Exchange(ORDERS_DLX, "fanout"),  # everything rejected from inventory_orders, whatever its routing key
    Exchange(INVENTORY_EVENTS, "topic"),
    Exchange(EVENTS_DLX, "fanout"),
)
QUEUES = (
    Queue(INVENTORY_ORDERS, {"x-dead-letter-exchange": ORDERS_DLX}),
    Queue(ORDERS_DLQ),
    Queue(ORDER_STATUS_QUEUE, {"x-dead-letter-exchange": EVENTS_DLX}),
    Queue(NOTIFICATIONS_QUEUE, {"x-dead-letter-exchange": EVENTS_DLX}),
    Queue(EVENTS_DLQ),
)
BINDINGS = (
    Binding(INVENTORY_ORDERS, ORDERS_EXCHANGE, ""),
    Binding(ORDERS_DLQ, ORDERS_DLX, ""),
    Binding(ORDER_STATUS_QUEUE, INVENTORY_EVENTS, "inventory.*"),
    Binding(NOTIFICATIONS_QUEUE, INVENTORY_EVENTS, "inventory.*"),
    Binding(EVENTS_DLQ, EVENTS_DLX, ""),
)


PRECONDITION_FAILED = 406


def arguments(queue: Queue, queue_type: str = "classic") -> dict:
    """A queue's declare arguments for the queue type (`nodes.queue_type(settings)`).

    Quorum queues (the cluster's default) are replicated on every node, a Raft group that keeps working while a
    majority is up. Their dead-lettering is made at-least-once, which RabbitMQ 3.10 allows only with
    `x-overflow: reject-publish` (and the `stream_queue` feature flag, enabled on a fresh 3.10 node); with the
    default at-most-once strategy a message dead-lettered while the target queue is unavailable is dropped."""
    if queue_type != "quorum":
        return dict(queue.arguments)
    args = {**queue.arguments, "x-queue-type": "quorum"}
    if "x-dead-letter-exchange" in args:
        args |= {"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}
    return args


def declare(channel, queue_type: str = "classic") -> None:
    """Declare everything on a (blocking) pika channel; safe to call any number of times."""
    declare_exchanges(channel.connection)
    for q in QUEUES:
        channel.queue_declare(queue=q.name, durable=True, arguments=arguments(q, queue_type) or None)
    for b in BINDINGS:
        channel.queue_bind(queue=b.queue, exchange=b.exchange, routing_key=b.routing_key)


def declare_exchanges(connection) -> list[str]:
    """Declare the exchanges on a channel of their own (a refused declaration closes its channel); an exchange of
    the wrong type is deleted and declared again. Returns the names of the exchanges replaced."""
    replaced = []
    channel = connection.channel()
    try:
        for ex in EXCHANGES:
            try:
                channel.exchange_declare(exchange=ex.name, exchange_type=ex.type, durable=True)
            except pika.exceptions.ChannelClosedByBroker as exc:
                if exc.reply_code != PRECONDITION_FAILED:
                    raise
                log.warning("exchange %r exists with other settings than (%s, durable): %s; deleting it and"
                            " declaring it again, then re-binding its queues", ex.name, ex.type, exc.reply_text)
                channel = connection.channel()
                channel.exchange_delete(exchange=ex.name)
                channel.exchange_declare(exchange=ex.name, exchange_type=ex.type, durable=True)
                replaced.append(ex.name)
    finally:
        if channel.is_open:
            channel.close()
    return replaced
