"""Part B's whole RabbitMQ topology, in one place: exchanges, queues, dead-lettering and bindings.

`declare(channel)` is idempotent (same names, same arguments), and every process
that publishes or consumes calls it on each (re)connect, so the services can
start in any order and a fresh broker (wiped after a restart) is rebuilt.
Everything is durable: exchanges and queues survive a broker restart, and the
publishers mark every message persistent.
"""
from __future__ import annotations

from dataclasses import dataclass, field

# Orders: order-service -> inventory-service.
ORDERS_EXCHANGE = "orders"
ORDER_PLACED_KEY = "order.placed"
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
    Exchange(ORDERS_EXCHANGE, "direct"),
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
    Binding(INVENTORY_ORDERS, ORDERS_EXCHANGE, ORDER_PLACED_KEY),
    Binding(ORDERS_DLQ, ORDERS_DLX, ""),
    Binding(ORDER_STATUS_QUEUE, INVENTORY_EVENTS, "inventory.*"),
    Binding(NOTIFICATIONS_QUEUE, INVENTORY_EVENTS, "inventory.*"),
    Binding(EVENTS_DLQ, EVENTS_DLX, ""),
)


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
    for ex in EXCHANGES:
        channel.exchange_declare(exchange=ex.name, exchange_type=ex.type, durable=True)
    for q in QUEUES:
        channel.queue_declare(queue=q.name, durable=True, arguments=arguments(q, queue_type) or None)
    for b in BINDINGS:
        channel.queue_bind(queue=b.queue, exchange=b.exchange, routing_key=b.routing_key)
