"""Part C's dashboard: the figures and charts it shows (`BOARD`), served by `main` on port 6003."""
from common.dashboard.app import main as serve
from common.dashboard.board import Board, Chart, Figure
from streaming_kafka.topology import ANALYTICS_GROUP, INVENTORY_GROUP, ORDER_TOPIC

SOURCES = {"producer-order": "order_url", "inventory-consumer": "inventory_url",
           "analytics-consumer": "notification_url"}
PRODUCER, ANALYTICS = "producer-order", "analytics-consumer"

BOARD = Board(
    part="streaming-kafka",
    title="Part C: event streaming (Kafka)",
    sources=SOURCES,
    figures=(
        Figure("orders_confirmed", "orders confirmed", ANALYTICS, "analytics_orders_reserved"),
        Figure("orders_failed", "orders failed", ANALYTICS, "analytics_orders_failed"),
        Figure("lag_inventory", f"lag of {INVENTORY_GROUP}", PRODUCER, "kafka_consumer_group_lag",
               ({"group": INVENTORY_GROUP},), unit="records"),
        Figure("lag_analytics", f"lag of {ANALYTICS_GROUP}", PRODUCER, "kafka_consumer_group_lag",
               ({"group": ANALYTICS_GROUP},), unit="records"),
        Figure("events_rate", "events / s", PRODUCER, "events_produced_total", ({"topic": ORDER_TOPIC},),
               kind="rate"),
        Figure("dead_letters", "dead-lettered by inventory", "inventory-consumer", "dead_letters_total"),
    ),
    charts=(
        Chart("Consumer lag (records)", ("lag_inventory", "lag_analytics")),
        Chart("Events per second", ("events_rate",)),
    ),
)


def main() -> int:
    return serve(BOARD)
