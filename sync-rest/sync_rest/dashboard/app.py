"""Part A's dashboard: the figures and charts it shows (`BOARD`), served by `main` on port 6003."""
from common.dashboard.app import main as serve
from common.dashboard.board import Board, Chart, Figure

SOURCES = {"order-service": "order_url", "inventory-service": "inventory_url",
           "notification-service": "notification_url"}
ORDERS = "order-service"

BOARD = Board(
    part="sync-rest",
    title="Part A: synchronous REST",
    sources=SOURCES,
    figures=(
        Figure("orders_confirmed", "orders confirmed", ORDERS, "orders_total", ({"outcome": "confirmed"},)),
        Figure("orders_failed", "orders failed", ORDERS, "orders_total", ({"outcome": "failed"},)),
        Figure("order_rate", "orders / s", ORDERS, "orders_total", kind="rate"),
        Figure("failure_rate", "failed orders / s", ORDERS, "orders_total", ({"outcome": "failed"},), kind="rate"),
        Figure("breaker_state", "circuit breaker", ORDERS, "circuit_breaker_state",
               words={0: "closed", 1: "open", 2: "half_open"}),
        Figure("inventory_latency", "inventory call, mean", ORDERS, "downstream_request_duration_seconds",
               ({"target": "inventory"},), kind="mean_ms", unit="ms"),
        Figure("inventory_errors", "inventory call errors / s", ORDERS, "downstream_errors_total",
               ({"target": "inventory"},), kind="rate"),
    ),
    charts=(
        Chart("Orders per second", ("order_rate", "failure_rate")),
        Chart("Circuit breaker (0 closed, 1 open, 2 half-open)", ("breaker_state",)),
        Chart("Inventory call latency (ms)", ("inventory_latency",)),
    ),
)


def main() -> int:
    return serve(BOARD)
