"""Part C's /metrics: parsed by prometheus_client; orders, events, reservations and dead letters follow the
traffic; the analytics consumer keeps its JSON for clients that do not ask for the exposition format."""
import json
import threading

import pytest

from common.stock import StockStore
from labkit.testing import scrape
from streaming_kafka.analytics_consumer.app import create_app as analytics_app
from streaming_kafka.analytics_consumer.metrics import MetricsState
from streaming_kafka.events import OrderPlaced
from streaming_kafka.inventory_consumer.app import create_app as inventory_app
from streaming_kafka.inventory_consumer.handler import InventoryHandler
from streaming_kafka.inventory_consumer.worker import count
from streaming_kafka.producer_order.app import build_desk, create_app
from streaming_kafka.producer_order.publisher import OrderPublisher
from streaming_kafka.topology import INVENTORY_GROUP, ORDER_TOPIC


def producer_app(settings, publisher, lag=None):
    """producer-order's app over a given publisher, its desk built as `build` builds it."""
    return create_app(settings, publisher, build_desk(settings, publisher), lag=lag)


pytestmark = pytest.mark.service
N = 5


def test_n_orders_raise_the_order_and_event_counters_by_n(tmp_settings, fake_producer):
    client = producer_app(tmp_settings, OrderPublisher(tmp_settings, factory=lambda bulk: fake_producer)).test_client()
    before = scrape(client)
    ids = [client.post("/order", json={"student_id": "s", "item": "pizza", "quantity": 1}).get_json()["order_id"]
           for _ in range(N)]
    assert client.post("/bulk", json={"count": 40, "fail_rate": 0.1}).status_code == 200
    after = scrape(client)

    def grew(name, **labels):
        return after.value(name, **labels) - before.value(name, **labels)

    assert grew("orders_total", outcome="pending") == N + 40 == len(fake_producer.sent)
    assert grew("events_produced_total", topic=ORDER_TOPIC) == N + 40
    assert grew("http_requests_total", route="/order", method="POST", status="202") == N
    assert not any(oid in v for oid in ids for v in after.label_values())


def test_inventory_counts_a_committed_batch(tmp_settings, tmp_path):
    store = StockStore(tmp_path / "inv.db")
    client = inventory_app(tmp_settings, store).test_client()
    handler = InventoryHandler(store)
    values = [OrderPlaced.new(order_id=f"ORD-1-{i:08x}", event_id=f"{i:032x}", student_id="s",
                              item="fries", quantity=1, ts_ms=1_795_590_180_000).to_bytes()
              for i in range(N)]
    before = scrape(client)
    count(handler.handle(values))
    count(handler.handle([values[0], b"not json"]))  # a redelivery and a poison record
    after = scrape(client)

    def grew(name, **labels):
        return after.value(name, **labels) - before.value(name, **labels)

    assert grew("reservations_total", outcome="reserved") == N
    assert grew("messages_consumed_total", consumer=INVENTORY_GROUP) == N + 2
    assert grew("messages_duplicate_total", consumer=INVENTORY_GROUP) == 1
    assert grew("dead_letters_total", consumer=INVENTORY_GROUP) == 1
    assert not any(v.startswith("ORD-") for v in after.label_values())



def test_analytics_keeps_its_json_and_gives_the_same_figures_to_prometheus(tmp_settings, analytics_worker_class):
    state = MetricsState()
    for i in range(N):
        state.add(OrderPlaced.new(order_id=f"ORD-1-{i:08x}", event_id=f"{i:032x}", student_id="s",
                                  item="pizza", quantity=1, ts_ms=1_795_590_180_000 + i).to_bytes())
    client = analytics_app(tmp_settings, analytics_worker_class(state)).test_client()
    for accept in (None, "application/json", "*/*"):  # the lab's clients: JSON, exactly the file's text
        r = client.get("/metrics", headers={"Accept": accept} if accept else {})
        assert r.status_code == 200 and r.mimetype == "application/json"
        assert json.loads(r.get_data())["total_orders_seen"] == N
    figures = scrape(client)
    assert figures.value("analytics_orders_seen") == N
    assert figures.value("analytics_failure_ratio") == json.loads(client.get("/metrics").get_data())[
        "failure_rate_percent"] / 100
    assert figures.value("http_requests_total", route="/metrics", method="GET", status="200") >= 3


def test_lag_per_group_is_read_at_scrape_time_and_never_blocks_a_scrape(tmp_settings, fake_producer):
    from streaming_kafka.lag import LagRow
    from streaming_kafka.producer_order.lag_figures import LagFigures
    from streaming_kafka.topology import ANALYTICS_GROUP

    lags = {INVENTORY_GROUP: [3, 4], ANALYTICS_GROUP: [0, 1, 2]}
    mode = {"read": "ok"}
    released = threading.Event()

    def read(settings, group, topics):
        if mode["read"] == "down":
            raise ConnectionError("no broker")
        if mode["read"] == "hang":
            released.wait(30)  # a broker that does not answer
        return [LagRow(group, "OrderEvents", p, 0, lag, lag) for p, lag in enumerate(lags[group])]

    figures = LagFigures(tmp_settings, read=read, ttl_s=0.0, wait_s=0.5)
    client = producer_app(tmp_settings, OrderPublisher(tmp_settings, factory=lambda bulk: fake_producer),
                          lag=figures).test_client()
    got = scrape(client)
    assert got.value("kafka_lag_fresh") == 1
    assert got.value("kafka_consumer_group_lag", group=INVENTORY_GROUP) == 7
    assert got.value("kafka_consumer_group_lag", group=ANALYTICS_GROUP) == 3
    lags[INVENTORY_GROUP] = [0, 0]  # drained: the next scrape reads it again
    assert scrape(client).value("kafka_consumer_group_lag", group=INVENTORY_GROUP) == 0
    mode["read"] = "down"
    down = scrape(client)
    assert down.value("kafka_lag_fresh") == 0 and "kafka_consumer_group_lag" not in down.families
    mode["read"] = "hang"
    slow = scrape(client)  # answered while the read still hangs
    assert not released.is_set() and slow.value("kafka_lag_fresh") == 0
    released.set()
