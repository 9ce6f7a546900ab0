"""Part C's live dashboard (port 6003): orders by outcome (as the analytics consumer has read them), each consumer
group's lag (read by the producer from Kafka), events per second and the dead letters.
`python -m streaming_kafka.dashboard`."""
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

if __name__ == "__main__":
    from common.dashboard.app import main

    raise SystemExit(main(BOARD))
