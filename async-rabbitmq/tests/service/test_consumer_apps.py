"""inventory-service and notification-service HTTP sides: /health readiness, /stock, /admin/reset."""
from types import SimpleNamespace

import pytest

from async_rabbitmq.inventory_service.app import create_app as inventory_app
from async_rabbitmq.notification_service.app import create_app as notification_app
from async_rabbitmq.notification_service.store import NotificationStore
from common.menu import INITIAL_STOCK
from common.stock import StockStore

pytestmark = pytest.mark.service


def fake_consumer(consuming: bool, processed: int = 0):
    return SimpleNamespace(consuming=SimpleNamespace(is_set=lambda: consuming), processed=processed, unroutable=0)


def test_inventory_health_waits_for_the_consumer(tmp_settings, tmp_path):
    store = StockStore(tmp_path / "inv.db")
    r = inventory_app(tmp_settings, store, None, fake_consumer(False)).test_client().get("/health")
    assert r.status_code == 503 and r.get_json()["error"] == "not_ready"
    r = inventory_app(tmp_settings, store, None, fake_consumer(True)).test_client().get("/health")
    assert r.status_code == 200 and r.get_json()["consuming"] is True
    # once it has consumed, a broker outage does not make it unhealthy (it reconnects by itself)
    assert inventory_app(tmp_settings, store, None, fake_consumer(False, 5)).test_client().get("/health").status_code == 200


def test_stock_and_reset(tmp_settings, tmp_path):
    client = inventory_app(tmp_settings.model_copy(update={"admin_api": True}),
                           StockStore(tmp_path / "inv.db")).test_client()
    assert client.get("/stock").get_json() == dict(INITIAL_STOCK)
    assert client.post("/admin/reset", json={"stock": {"pizza": 5}}).get_json() == {"pizza": 5}
    assert client.post("/admin/reset", json={"stock": {"pizza": -1}}).status_code == 400
    assert client.post("/admin/reset", data=b"{x", content_type="application/json").status_code == 400
    assert client.post("/admin/reset").get_json() == dict(INITIAL_STOCK)


def test_notification_health_and_lookup(tmp_settings, tmp_path):
    store = NotificationStore(tmp_path / "n.db")
    client = notification_app(tmp_settings, store, None, fake_consumer(True)).test_client()
    assert client.get("/health").get_json()["notifications"] == 0
    assert client.get("/notifications/ORD-x").get_json() == {"order_id": "ORD-x", "notifications": []}


def test_admin_is_off_by_default(tmp_settings, tmp_path):
    client = inventory_app(tmp_settings, StockStore(tmp_path / "inv.db")).test_client()
    r = client.post("/admin/reset", json={"stock": {"pizza": 5}})
    assert r.status_code == 404 and r.get_json()["error"] == "not_found"
    assert client.get("/stock").get_json() == dict(INITIAL_STOCK)


def test_a_redelivery_after_admin_reset_is_not_processed_twice(tmp_settings, tmp_path):
    """/admin/reset sets the stock afresh but keeps the event ids already processed (the deduplication)."""

    from async_rabbitmq.inventory_service.handler import InventoryHandler
    from async_rabbitmq.messaging.consumer import Delivery
    from async_rabbitmq.messaging.messages import OrderPlaced

    store = StockStore(tmp_path / "inv.db")
    client = inventory_app(tmp_settings.model_copy(update={"admin_api": True}), store).test_client()
    handler = InventoryHandler(store, tmp_settings)
    body = OrderPlaced.new(order_id="ORD-1-reset", student_id="s", item="pizza", quantity=3).to_bytes()
    (first,) = handler([Delivery(1, body)])
    assert client.post("/admin/reset", json={"stock": {"pizza": 10}}).get_json() == {"pizza": 10}
    (again,) = handler([Delivery(2, body, redelivered=True)])  # e.g. its ack was lost in the reset's instant
    assert client.get("/stock").get_json() == {"pizza": 10}
    assert again.outgoing[0].body == first.outgoing[0].body and handler.stats["duplicates"] == 1
    assert client.get("/reservations").get_json()["counts"] == {}  # nothing new since the reset
