"""Part B's dashboard: the figures and charts it shows (`BOARD`), served by `main` on port 6003."""
from async_rabbitmq.messaging.topology import EVENTS_DLQ, INVENTORY_ORDERS, ORDERS_DLQ
from common.dashboard.app import main as serve
from common.dashboard.board import Board, Chart, Figure

SOURCES = {"order-service": "order_url", "inventory-service": "inventory_url",
           "notification-service": "notification_url"}
ORDERS = "order-service"

BOARD = Board(
    part="async-rabbitmq",
    title="Part B: asynchronous messaging (RabbitMQ)",
    sources=SOURCES,
    figures=(
        Figure("orders_confirmed", "orders confirmed", ORDERS, "orders_by_status", ({"status": "confirmed"},)),
        Figure("orders_failed", "orders failed", ORDERS, "orders_by_status", ({"status": "failed"},)),
        Figure("orders_pending", "orders pending", ORDERS, "orders_by_status", ({"status": "pending"},)),
        Figure("order_rate", "orders / s", ORDERS, "orders_total", kind="rate"),
        # messages waiting for the inventory in its queue
        Figure("queue_depth", "inventory_orders waiting", ORDERS, "broker_queue_messages_ready",
               ({"queue": INVENTORY_ORDERS},)),
        Figure("dlq_depth", "dead-letter queues", ORDERS, "broker_queue_messages",
               ({"queue": ORDERS_DLQ}, {"queue": EVENTS_DLQ})),
        Figure("outbox_pending", "outbox pending", ORDERS, "outbox_pending"),
        Figure("dead_letters", "dead-lettered by inventory", "inventory-service", "dead_letters_total"),
    ),
    charts=(
        Chart("Backlog: messages waiting in inventory_orders", ("queue_depth", "outbox_pending")),
        Chart("Orders per second and dead letters", ("order_rate", "dlq_depth")),
    ),
)


def main() -> int:
    return serve(BOARD)
