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


def declare(channel) -> None:
    """Declare everything on a (blocking) pika channel; safe to call any number of times."""
    for ex in EXCHANGES:
        channel.exchange_declare(exchange=ex.name, exchange_type=ex.type, durable=True)
    for q in QUEUES:
        channel.queue_declare(queue=q.name, durable=True, arguments=dict(q.arguments) or None)
    for b in BINDINGS:
        channel.queue_bind(queue=b.queue, exchange=b.exchange, routing_key=b.routing_key)
