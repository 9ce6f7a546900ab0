"""Part B's /metrics: parsed by prometheus_client; orders, the outbox, reservations and dead letters follow the
traffic; no label carries an order id."""
from types import SimpleNamespace

import pytest

from async_rabbitmq.inventory_service.app import create_app as inventory_app
from async_rabbitmq.inventory_service.handler import InventoryHandler
from async_rabbitmq.lab.testing import NoRelay
from async_rabbitmq.messaging import topology
from async_rabbitmq.messaging.consumer import Delivery
from async_rabbitmq.messaging.messages import OrderPlaced
from async_rabbitmq.notification_service.app import create_app as notification_app
from async_rabbitmq.notification_service.store import NotificationStore
from async_rabbitmq.order_service.app import create_app as order_app
from async_rabbitmq.order_service.store import OrderStore
from common.stock import StockStore
from labkit.testing import scrape

pytestmark = pytest.mark.service
N = 6


def consumer():
    return SimpleNamespace(consuming=SimpleNamespace(is_set=lambda: True), processed=0, unroutable=0)


def test_n_orders_raise_the_counters_and_the_outbox_gauges(tmp_settings, tmp_path):
    store = OrderStore(tmp_path / "orders.db")
    client = order_app(tmp_settings, store, NoRelay()).test_client()
    before = scrape(client)
    ids = [client.post("/order", json={"student_id": "s", "item": "pizza", "quantity": 1}).get_json()["order_id"]
           for _ in range(N)]
    after = scrape(client)
    assert after.value("orders_total", outcome="pending") - before.value("orders_total", outcome="pending") == N
    grew = (after.value("http_requests_total", route="/order", method="POST", status="202")
            - before.value("http_requests_total", route="/order", method="POST", status="202"))
    assert grew == N
    # read from this store at the scrape: nothing was published (no relay), so all N wait in the outbox
    assert after.value("outbox_pending") == N == store.outbox_backlog()
    assert after.value("orders_by_status", status="pending") == N and after.value("outbox_unroutable") == 0
    assert after.value("outbox_oldest_age_seconds") >= 0
    store.apply_results([(ids[0], "confirmed", None, "e1")])
    assert scrape(client).value("orders_by_status", status="confirmed") == 1
    assert not any(oid in v for oid in ids for v in after.label_values())


def test_inventory_counts_reservations_duplicates_and_dead_letters(tmp_settings, tmp_path):
    store = StockStore(tmp_path / "inv.db")
    client = inventory_app(tmp_settings, store, None, consumer()).test_client()
    handler = InventoryHandler(store, tmp_settings)
    before = scrape(client)
    bodies = [OrderPlaced.new(order_id=f"ORD-1-{i:08x}", student_id="s", item="coffee", quantity=1).to_bytes() for i in range(N)]
    handler([Delivery(i, b) for i, b in enumerate(bodies)])
    handler([Delivery(100, bodies[0], redelivered=True), Delivery(101, b"not json")])
    after = scrape(client)

    def grew(name, **labels):
        return after.value(name, **labels) - before.value(name, **labels)

    assert grew("reservations_total", outcome="reserved") == N
    assert grew("messages_duplicate_total", consumer=topology.INVENTORY_ORDERS) == 1
    assert grew("dead_letters_total", consumer=topology.INVENTORY_ORDERS) == 1
    assert not any(v.startswith("ORD-") for v in after.label_values())


def test_notification_answers_metrics(tmp_settings, tmp_path):
    client = notification_app(tmp_settings, NotificationStore(tmp_path / "n.db"), None, consumer()).test_client()
    client.get("/health")
    assert scrape(client).value("http_requests_total", route="/health", status="200") >= 1


class FakeManagement:
    """Stands in for the management API's `GET /api/queues/%2F` (or for a broker that does not answer)."""

    def __init__(self, queues=None):
        self.queues = queues

    def get(self, url, **kw):
        import requests

        if self.queues is None:
            raise requests.ConnectionError("refused")
        return SimpleNamespace(raise_for_status=lambda: None, json=lambda: self.queues)


def test_queue_depths_are_read_from_the_broker_at_scrape_time(tmp_settings, tmp_path):
    from async_rabbitmq.order_service.broker_figures import queue_figures

    queues = [{"name": topology.INVENTORY_ORDERS, "messages": 42, "messages_ready": 40},
              {"name": topology.ORDERS_DLQ, "messages": 3, "messages_ready": 3},
              {"name": "someone_elses", "messages": 9, "messages_ready": 9}]
    management = FakeManagement(queues)
    client = order_app(tmp_settings, OrderStore(tmp_path / "o.db"), NoRelay(),
                       broker_figures=queue_figures(tmp_settings, management)).test_client()
    got = scrape(client)
    assert got.value("broker_scrape_ok") == 1
    assert got.value("broker_queue_messages", queue=topology.INVENTORY_ORDERS) == 42
    assert got.value("broker_queue_messages_ready", queue=topology.INVENTORY_ORDERS) == 40
    assert got.value("broker_queue_messages", queue=topology.ORDERS_DLQ) == 3
    assert "someone_elses" not in got.label_values()
    queues[0]["messages"] = 0  # drained: the next scrape reads it again
    assert scrape(client).value("broker_queue_messages", queue=topology.INVENTORY_ORDERS) == 0
    management.queues = None  # the broker is down: the scrape still answers, and says so
    down = scrape(client)
    assert down.value("broker_scrape_ok") == 0 and down.value("broker_queue_messages") == 0
