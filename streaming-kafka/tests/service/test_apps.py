"""The HTTP sides with Flask test clients and fakes: contract statuses and bodies, no broker."""
import json

import pytest

from common.ids import is_order_id
from common.stock import StockStore
from streaming_kafka.analytics_consumer.app import create_app as analytics_app
from streaming_kafka.analytics_consumer.metrics import MetricsState
from streaming_kafka.events import OrderPlaced
from streaming_kafka.inventory_consumer.app import create_app as inventory_app
from streaming_kafka.inventory_consumer.handler import InventoryHandler
from streaming_kafka.kafka_io import KafkaTimeoutError, NoBrokersAvailable
from streaming_kafka.producer_order.app import build_desk, create_app
from streaming_kafka.producer_order.publisher import OrderPublisher


def producer_app(settings, publisher, lag=None):
    """producer-order's app over a given publisher, its desk built as `build` builds it."""
    return create_app(settings, publisher, build_desk(settings, publisher), lag=lag)


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


def test_broker_down_is_503_failed(tmp_settings, producer_class):
    """The producer never took the record: it is certainly not produced, so "failed" is the truth."""
    pub = OrderPublisher(tmp_settings, factory=lambda bulk: producer_class(refuse=NoBrokersAvailable()))
    client = producer_app(tmp_settings, pub).test_client()
    r = client.post("/order", json={"student_id": "s", "item": "pizza", "quantity": 1})
    assert r.status_code == 503 and r.get_json()["error"] == "broker_unavailable"
    assert r.get_json()["status"] == "failed"
    r = client.post("/bulk", json={"count": 10})
    assert r.status_code == 503 and (r.get_json()["published"], r.get_json()["not_sent"]) == (0, 10)


def test_an_unacknowledged_order_is_504_unknown_not_failed(tmp_settings, producer_class):
    """Sent but not acknowledged in time: it may still be delivered, so the answer must not say "failed"."""
    pub = OrderPublisher(tmp_settings, factory=lambda bulk: producer_class(fail=KafkaTimeoutError("no ack")))
    client = producer_app(tmp_settings, pub).test_client()
    r = client.post("/order", json={"student_id": "s", "item": "pizza", "quantity": 1})
    body = r.get_json()
    assert r.status_code == 504 and body["status"] == "unknown" and body["error"] == "delivery_unknown"
    assert is_order_id(body["order_id"]) and "Idempotency-Key" in body["detail"] and r.headers["Retry-After"]


def test_a_bulk_cut_short_says_what_is_known(tmp_settings, producer_class):
    settings = tmp_settings.model_copy(update={"bulk_chunk": 10})
    fake = producer_class(fail=KafkaTimeoutError("no ack"), fail_after=25)
    client = producer_app(settings, OrderPublisher(settings, factory=lambda bulk: fake)).test_client()
    r = client.post("/bulk", json={"count": 100, "fail_rate": 0.1})
    body = r.get_json()
    assert r.status_code == 504 and body["error"] == "delivery_unknown" and body["status"] == "incomplete"
    # chunks of 10, each awaited while the next is sent: the wait on the third chunk fails with 40 handed over;
    # 25 are acknowledged, 15 may still land, 60 never left
    assert (body["requested"], body["confirmed"], body["unconfirmed"], body["not_sent"]) == (100, 25, 15, 60)
    assert body["published"] == 25


# -- Idempotency-Key on POST /order (as in Part A) ---------------------------------------------------------------------
ORDER = {"student_id": "s", "item": "burger", "quantity": 2}


def test_a_retry_with_the_same_key_replays_and_produces_nothing(producer, fake_producer):
    first = producer.post("/order", json=ORDER, headers={"Idempotency-Key": "k-1"})
    again = producer.post("/order", json=ORDER, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 202
    assert again.get_json()["order_id"] == first.get_json()["order_id"] and again.headers["Idempotent-Replayed"]
    assert len(fake_producer.sent) == 1
    other = producer.post("/order", json=ORDER, headers={"Idempotency-Key": "k-2"})
    assert other.get_json()["order_id"] != first.get_json()["order_id"] and len(fake_producer.sent) == 2


def test_a_retry_after_a_timeout_produces_the_same_event_which_the_consumer_counts_once(tmp_settings, producer_class,
                                                                                          tmp_path):
    producers = [producer_class(fail=KafkaTimeoutError("no ack")), producer_class()]
    pub = OrderPublisher(tmp_settings, factory=lambda bulk: producers[0])
    client = producer_app(tmp_settings, pub).test_client()
    lost = client.post("/order", json=ORDER, headers={"Idempotency-Key": "k-t"})
    assert lost.status_code == 504
    pub._producers[False] = producers[1]  # the broker answers again
    ok = client.post("/order", json=ORDER, headers={"Idempotency-Key": "k-t"})
    assert ok.status_code == 202 and ok.get_json()["order_id"] == lost.get_json()["order_id"]
    assert ok.get_json()["event_id"] == lost.get_json()["event_id"]
    # The first record may have been written after all: both land, and the inventory consumer reserves once.
    values = [v for p in producers for _, _, v, _ in p.sent]
    store = StockStore(tmp_path / "inv.db")
    actions = InventoryHandler(store).handle(values)
    assert [a.duplicate for a in actions] == [False, True] and store.snapshot()["burger"] == 100 - 2
    assert client.post("/order", json=ORDER, headers={"Idempotency-Key": "k-t"}).headers["Idempotent-Replayed"]
    assert len(producers[1].sent) == 1


@pytest.mark.parametrize("headers, body, code", [
    ({"Idempotency-Key": "k-3"}, {**ORDER, "quantity": 3}, "idempotency_key_reused"),
    ({"Idempotency-Key": "x" * 256}, ORDER, "invalid_idempotency_key"),
])
def test_idempotency_key_errors_are_400_json(producer, headers, body, code):
    producer.post("/order", json=ORDER, headers={"Idempotency-Key": "k-3"})
    r = producer.post("/order", json=body, headers=headers)
    assert r.status_code == 400 and r.get_json()["error"] == code


def test_the_original_labs_body_is_accepted(producer, fake_producer):
    r = producer.post("/order", json={"item": "fries", "qty": 2})
    assert r.status_code == 202
    event = json.loads(fake_producer.sent[0][2])
    assert (event["item"], event["quantity"], event["student_id"]) == ("fries", 2, "anonymous")


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



def test_analytics_http_side(tmp_settings, analytics_worker_class):
    state = MetricsState()
    state.add(OrderPlaced.new(order_id="ORD-1", event_id="a" * 32, student_id="s",
                              item="pizza", quantity=1, ts_ms=1_795_590_180_000).to_bytes())
    worker = analytics_worker_class(state)
    client = analytics_app(tmp_settings, worker).test_client()
    assert client.get("/health").status_code == 503  # not yet in the group
    worker.joined.set()
    assert client.get("/health").status_code == 200
    r = client.get("/metrics")
    assert r.status_code == 200 and r.get_data(as_text=True) == worker.snapshot()
    assert r.get_json()["total_orders_seen"] == 1
    assert client.get("/order/ORD-1").get_json() == {"order_id": "ORD-1", "status": "pending"}
    assert client.get("/order/ORD-2").status_code == 404


def test_a_redelivery_after_admin_reset_is_not_processed_twice(tmp_settings, tmp_path):
    """/admin/reset sets the stock afresh but keeps the event ids already processed (the deduplication): a
    record read again after a reset (a rebalance before its commit) reserves nothing a second time."""
    from streaming_kafka.events import OrderPlaced
    from streaming_kafka.inventory_consumer.handler import InventoryHandler

    store = StockStore(tmp_path / "inv.db")
    client = inventory_app(tmp_settings.model_copy(update={"admin_api": True}), store).test_client()
    handler = InventoryHandler(store)
    raw = OrderPlaced.new(order_id="ORD-1795590180000-0000abcd", event_id="e" * 32, student_id="s",
                          item="pizza", quantity=3, ts_ms=1_795_590_180_000).to_bytes()
    (first,) = handler.handle([raw])
    assert client.post("/admin/reset", json={"stock": {"pizza": 10}}).get_json() == {"pizza": 10}
    (again,) = handler.handle([raw])
    assert again.duplicate and again.value == first.value
    assert client.get("/stock").get_json() == {"pizza": 10}
    assert client.get("/reservations").get_json()["counts"] == {}  # nothing new since the reset
