"""Part A's /metrics: parsed by prometheus_client, counters that follow the orders, the breaker's state."""
import pytest

from common.idempotency import IdempotencyStore
from common.vocabulary import ReservationOutcome
from labkit.testing import scrape
from sync_rest.order_service import clients
from sync_rest.order_service.app import breaker_changed
from sync_rest.order_service.app import create_app as order_app
from sync_rest.order_service.breaker import CircuitBreaker
from sync_rest.order_service.orders import OrderDesk

from .conftest import FakeNotifier, make_settings

pytestmark = pytest.mark.service
N = 7


def test_every_service_answers_metrics_in_the_exposition_format(order, inventory, notification):
    for client in (order, inventory, notification):
        client.get("/health")
        assert scrape(client).value("http_requests_total", route="/health", method="GET", status="200") >= 1


def test_n_orders_raise_the_order_and_http_counters_by_n(order):
    before = scrape(order)
    ids = [order.post("/order", json={"student_id": "s", "item": "pizza", "quantity": 1}).get_json()["order_id"]
           for _ in range(N)]
    order.post("/order", json={"student_id": "s", "item": "pizza", "quantity": 1000})  # 400: not an order
    after = scrape(order)
    assert after.value("orders_total", outcome="confirmed") - before.value("orders_total", outcome="confirmed") == N
    assert after.value("orders_total") - before.value("orders_total") == N
    for name, labels, n in (("http_requests_total", {"status": "201"}, N), ("http_requests_total", {"status": "400"}, 1),
                            ("http_request_duration_seconds_count", {}, N + 1)):
        grew = after.value(name, route="/order", method="POST", **labels) - before.value(name, route="/order",
                                                                                          method="POST", **labels)
        assert grew == n, (name, labels)
    assert not any(oid in v for oid in ids for v in after.label_values())


def test_inventory_counts_reservations_by_outcome_once_per_order(inventory):
    before = scrape(inventory)
    for i in range(N):
        assert inventory.post("/reserve", json={"order_id": f"ORD-1-{i:08x}", "item": "soda", "quantity": 1}
                              ).status_code == 200
    inventory.post("/reserve", json={"order_id": "ORD-1-00000000", "item": "soda", "quantity": 1})  # a retry
    assert inventory.post("/reserve", json={"order_id": "ORD-2-0", "item": "pizza", "quantity": 100}).status_code == 200
    assert inventory.post("/reserve", json={"order_id": "ORD-2-1", "item": "pizza", "quantity": 1}).status_code == 409
    after = scrape(inventory)

    def grew(outcome):
        return after.value("reservations_total", outcome=outcome) - before.value("reservations_total", outcome=outcome)

    assert grew(ReservationOutcome.RESERVED) == N + 1 and grew(ReservationOutcome.OUT_OF_STOCK) == 1


class DownInventory:
    def reserve(self, order_id, item, quantity):
        return clients.InventoryAnswer(ReservationOutcome.INVENTORY_UNAVAILABLE, "stopped")


def test_breaker_state_and_transitions(tmp_path):
    breaker = CircuitBreaker(2, 60, on_change=breaker_changed)
    desk = OrderDesk(DownInventory(), FakeNotifier(), breaker, IdempotencyStore(tmp_path / "o.db", 60), wait_busy_s=1)
    client = order_app(make_settings(tmp_path), desk=desk).test_client()
    before = scrape(client)
    for _ in range(3):  # two failures open it; the third is refused by the open breaker
        assert client.post("/order", json={"student_id": "s", "item": "pizza", "quantity": 1}).status_code == 503
    after = scrape(client)
    assert after.value("circuit_breaker_state") == 1
    assert after.value("circuit_breaker_info", breaker_state="open") == 1
    assert after.value("circuit_breaker_info", breaker_state="closed") == 0
    moved = ("circuit_breaker_transitions_total", {"from_state": "closed", "to_state": "open"})
    assert after.value(moved[0], **moved[1]) - before.value(moved[0], **moved[1]) == 1
    failed = ("orders_total", {"outcome": "failed", "reason": "inventory_unavailable"})
    assert after.value(failed[0], **failed[1]) - before.value(failed[0], **failed[1]) == 3
