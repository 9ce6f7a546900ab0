"""The three Flask apps through their test clients: endpoints, status codes and JSON errors."""
import time

import pytest

from sync_rest.inventory_service.app import build as build_inventory

from .conftest import make_settings

pytestmark = pytest.mark.service

GOOD = {"student_id": "s1", "item": "pizza", "quantity": 2}


def test_order_confirmed_201(order, stock_store):
    r = order.post("/order", json=GOOD)
    body = r.get_json()
    assert r.status_code == 201 and body["status"] == "confirmed"
    assert body["order_id"].startswith("ORD-") and (body["item"], body["quantity"]) == ("pizza", 2)
    assert stock_store.snapshot()["pizza"] == 98


def test_order_out_of_stock_409(order):
    r = order.post("/order", json={**GOOD, "quantity": 100})
    assert r.status_code == 201
    r = order.post("/order", json=GOOD)
    assert r.status_code == 409 and r.get_json()["reason"] == "out_of_stock"


@pytest.mark.parametrize("kwargs, code", [
    ({"data": "not json", "content_type": "application/json"}, "invalid_json"),
    ({"data": ""}, "invalid_json"),
    ({"json": [1, 2]}, "invalid_body"),
    ({"json": {**GOOD, "item": "sushi"}}, "unknown_item"),
    ({"json": {**GOOD, "quantity": "2"}}, "validation_error"),
    ({"json": {"student_id": "s1", "quantity": 1}}, "validation_error"),
])
def test_order_bad_input_400_json(order, kwargs, code):
    r = order.post("/order", **kwargs)
    assert r.status_code == 400 and r.get_json()["error"] == code and r.get_json()["detail"]


def test_order_body_over_64k_is_413_json(order):
    r = order.post("/order", data=b"{" + b" " * 70000 + b"}", content_type="application/json")
    assert r.status_code == 413 and r.get_json()["error"]


def test_idempotency_key_replays(order, stock_store):
    a = order.post("/order", json=GOOD, headers={"Idempotency-Key": "abc"})
    b = order.post("/order", json=GOOD, headers={"Idempotency-Key": "abc"})
    assert a.status_code == b.status_code == 201 and a.get_json() == b.get_json()
    assert b.headers["Idempotent-Replayed"] == "true" and stock_store.snapshot()["pizza"] == 98
    r = order.post("/order", json=GOOD, headers={"Idempotency-Key": "x" * 300})
    assert r.status_code == 400 and r.get_json()["error"] == "invalid_idempotency_key"


def test_inventory_reserve_stock_and_dedup(inventory):
    r = inventory.post("/reserve", json={"order_id": "o1", "item": "soda", "quantity": 5})
    assert r.status_code == 200 and r.get_json()["status"] == "reserved" and r.get_json()["remaining"] == 195
    again = inventory.post("/reserve", json={"order_id": "o1", "item": "soda", "quantity": 5})
    assert again.status_code == 200 and again.get_json()["duplicate"] is True
    assert inventory.get("/stock").get_json()["soda"] == 195
    r = inventory.post("/reserve", json={"order_id": "o2", "item": "soda", "quantity": 100})
    r = inventory.post("/reserve", json={"order_id": "o3", "item": "soda", "quantity": 100})
    assert r.status_code == 409 and r.get_json()["reason"] == "out_of_stock"


def test_inventory_reset(inventory):
    inventory.post("/reserve", json={"order_id": "o1", "item": "soda", "quantity": 5})
    assert inventory.post("/admin/reset", json={}).get_json()["soda"] == 200
    assert inventory.post("/admin/reset", json={"stock": {"pizza": 3}}).get_json() == {"pizza": 3}
    assert inventory.post("/admin/reset", json={"stock": {"pizza": -3}}).status_code == 400


def test_inventory_admin_is_off_by_default_and_answers_404_json(tmp_path):
    c = build_inventory(make_settings(tmp_path))[0].test_client()
    for r in (c.post("/admin/reset", json={}), c.get("/admin/status")):
        assert r.status_code == 404 and r.get_json()["error"] == "not_found"
    assert c.get("/stock").get_json()["soda"] == 200  # nothing was reset


def test_inventory_admin_when_enabled(inventory):
    assert inventory.get("/admin/status").get_json() == {"admin_api": True}


def test_inventory_forced_failure_is_500_json(tmp_path):
    c = build_inventory(make_settings(tmp_path, force_failure=True))[0].test_client()
    r = c.post("/reserve", json={"order_id": "o1", "item": "soda", "quantity": 1})
    assert r.status_code == 500 and r.get_json()["error"] == "forced_failure"
    assert c.get("/health").get_json()["faults"]["force_failure"] is True


def test_inventory_delay_is_applied(tmp_path):
    c = build_inventory(make_settings(tmp_path, inventory_delay_ms=150))[0].test_client()
    t0 = time.perf_counter()
    assert c.post("/reserve", json={"order_id": "o1", "item": "soda", "quantity": 1}).status_code == 200
    assert time.perf_counter() - t0 >= 0.15


def test_notification_send(notification):
    r = notification.post("/send", json={"order_id": "o", "student_id": "s", "message": "hi"})
    assert r.status_code == 200 and r.get_json()["status"] == "sent"
    assert notification.get("/health").get_json()["sent"] == 1
    assert notification.post("/send", json={"order_id": "o"}).status_code == 400


def test_health_everywhere(order, inventory, notification):
    for c in (order, inventory, notification):
        r = c.get("/health")
        assert r.status_code == 200 and r.get_json()["status"] == "ok"


def test_order_health_reports_the_breaker(tmp_path):
    from common.idempotency import IdempotencyStore
    from sync_rest.order_service.app import create_app as order_app
    from sync_rest.order_service.breaker import CircuitBreaker
    from sync_rest.order_service.orders import OrderDesk

    class Raising:
        def reserve(self, *a):
            raise ValueError("inventory sent something odd")

    breaker = CircuitBreaker(2, 60)
    desk = OrderDesk(Raising(), None, breaker, IdempotencyStore(tmp_path / "o.db", 60), wait_busy_s=1)
    client = order_app(make_settings(tmp_path), desk=desk).test_client()
    body = {"student_id": "s", "item": "pizza", "quantity": 1}
    assert client.get("/health").get_json()["circuit"] == "closed"
    assert [client.post("/order", json=body).status_code for _ in range(3)] == [422, 422, 503]
    health = client.get("/health").get_json()
    assert health["circuit"] == "open" and health["circuit_failures"] == 2 and health["circuit_retry_after_s"] > 0
