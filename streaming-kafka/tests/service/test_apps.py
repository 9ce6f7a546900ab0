"""The HTTP sides with Flask test clients and fakes: contract statuses and bodies, no broker."""
import json
import threading
from pathlib import Path

import pytest
from analytics_consumer.app import create_app as analytics_app
from analytics_consumer.metrics import MetricsState, render
from events import encode, order_placed
from inventory_consumer.app import create_app as inventory_app
from kafka.errors import KafkaTimeoutError
from producer_order.app import create_app as producer_app
from producer_order.publisher import OrderPublisher

from common.ids import is_order_id
from common.stock import StockStore

pytestmark = pytest.mark.service


@pytest.fixture
def producer(tmp_settings, fake_producer):
    app = producer_app(tmp_settings, OrderPublisher(tmp_settings, factory=lambda bulk: fake_producer))
    return app.test_client()


def test_order_is_202_and_one_event(producer, fake_producer):
    r = producer.post("/order", json={"student_id": "s1", "item": "pizza", "quantity": 2})
    assert r.status_code == 202
    body = r.get_json()
    assert is_order_id(body["order_id"]) and body["status"] == "pending"
    (topic, key, value, _), = fake_producer.sent
    assert topic == "OrderEvents" and key.decode() == body["order_id"]
    assert json.loads(value)["event_type"] == "OrderPlaced"


def test_bulk_answers_published_and_seconds(producer, fake_producer):
    r = producer.post("/bulk", json={"count": 1000, "fail_rate": 0.1})
    assert r.status_code == 200
    body = r.get_json()
    assert body["published"] == 1000 == len(fake_producer.sent) and body["seconds"] >= 0


@pytest.mark.parametrize("body, code", [
    ({"student_id": "s", "item": "caviar", "quantity": 1}, "unknown_item"),
    ({"student_id": "s", "item": "pizza"}, "validation_error"),
    ({"student_id": "s", "item": "pizza", "quantity": "1"}, "validation_error"),
])
def test_order_rejects_bad_input(producer, body, code):
    r = producer.post("/order", json=body)
    assert r.status_code == 400 and r.get_json()["error"] == code


def test_broker_down_is_503(tmp_settings, producer_class):
    pub = OrderPublisher(tmp_settings, factory=lambda bulk: producer_class(fail=KafkaTimeoutError("no broker")))
    client = producer_app(tmp_settings, pub).test_client()
    r = client.post("/order", json={"student_id": "s", "item": "pizza", "quantity": 1})
    assert r.status_code == 503 and r.get_json()["error"] == "broker_unavailable"
    assert client.post("/bulk", json={"count": 10}).status_code == 503


def test_inventory_http_side(tmp_settings, tmp_path):
    store = StockStore(tmp_path / "inv.db")
    client = inventory_app(tmp_settings.model_copy(update={"admin_api": True}), store).test_client()
    assert client.get("/health").status_code == 200
    assert client.get("/stock").get_json()["pizza"] == 100
    assert client.post("/admin/reset", json={"stock": {"pizza": 7}}).get_json() == {"pizza": 7}
    assert client.post("/admin/reset", json={"stock": {"pizza": -1}}).status_code == 400
    assert client.post("/admin/reset", data="nope").status_code == 400
    assert client.get("/reservations").get_json()["stock"] == {"pizza": 7}


def test_inventory_admin_is_off_by_default(tmp_settings, tmp_path):
    client = inventory_app(tmp_settings, StockStore(tmp_path / "inv.db")).test_client()
    r = client.post("/admin/reset", json={"stock": {"pizza": 7}})
    assert r.status_code == 404 and r.get_json()["error"] == "not_found"
    assert client.get("/stock").get_json()["pizza"] == 100


def test_bulk_over_the_cap_is_400_json(tmp_settings, fake_producer):
    s = tmp_settings.model_copy(update={"bulk_max": 50})
    client = producer_app(s, OrderPublisher(s, factory=lambda bulk: fake_producer)).test_client()
    r = client.post("/bulk", json={"count": 51})
    assert r.status_code == 400 and r.get_json()["error"] == "validation_error" and "BULK_MAX" in r.get_json()["detail"]
    assert fake_producer.sent == []
    assert client.post("/bulk", json={"count": 50}).status_code == 200


class StubWorker:
    def __init__(self, state):
        self.state = state
        self.lock = threading.Lock()
        self.joined = threading.Event()
        self.path = Path("/nonexistent/metrics_output.json")

    def snapshot(self):
        return render(self.state.metrics())


def test_analytics_http_side(tmp_settings):
    state = MetricsState()
    state.add(encode(order_placed("ORD-1", "a" * 32, "s", "pizza", 1, 1_795_590_180_000)))
    worker = StubWorker(state)
    client = analytics_app(tmp_settings, worker).test_client()
    assert client.get("/health").status_code == 503  # not yet in the group
    worker.joined.set()
    assert client.get("/health").status_code == 200
    r = client.get("/metrics")
    assert r.status_code == 200 and r.get_data(as_text=True) == worker.snapshot()
    assert r.get_json()["total_orders_seen"] == 1
    assert client.get("/order/ORD-1").get_json() == {"order_id": "ORD-1", "status": "pending"}
    assert client.get("/order/ORD-2").status_code == 404
