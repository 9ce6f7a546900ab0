"""The two inventory-event consumers without a broker: status updates and notifications, both idempotent."""
import itertools
import json

import pytest

from async_rabbitmq.messaging.consumer import Delivery
from async_rabbitmq.messaging.messages import REASON_HEADER, OrderPlaced
from async_rabbitmq.notification_service.handler import NotificationHandler
from async_rabbitmq.notification_service.store import NotificationStore
from async_rabbitmq.order_service.status import StatusHandler
from async_rabbitmq.order_service.store import OrderStore

pytestmark = pytest.mark.unit


_tags = itertools.count(1)


def ev(kind: str, order_id: str, event_id: str, reason=None) -> Delivery:
    body = {"event_type": kind, "event_id": event_id, "order_id": order_id, "item": "pizza", "quantity": 1,
            "student_id": "s"}
    if reason:
        body["reason"] = reason
    return Delivery(next(_tags), json.dumps(body).encode(), "inventory.x")


def test_status_moves_pending_to_a_final_state_once(tmp_path):
    store = OrderStore(tmp_path / "o.db")
    store.place(OrderPlaced.new(order_id="A", student_id="s", item="pizza", quantity=1), "order.placed")
    store.place(OrderPlaced.new(order_id="B", student_id="s", item="pizza", quantity=1), "order.placed")
    h = StatusHandler(store)
    h([ev("InventoryReserved", "A", "e1"), ev("InventoryFailed", "B", "e2", "out_of_stock")])
    h([ev("InventoryReserved", "A", "e1"), ev("InventoryReserved", "B", "e3")])  # duplicate, then a late conflict
    assert store.get("A")["status"] == "confirmed"
    assert (store.get("B")["status"], store.get("B")["reason"]) == ("failed", "out_of_stock")


def test_status_poison_is_dead_lettered(tmp_path):
    (r,) = StatusHandler(OrderStore(tmp_path / "o.db"))([Delivery(1, b"garbage")])
    assert r.outgoing[0].exchange == "inventory_events_dlx" and r.outgoing[0].headers[REASON_HEADER] == "not_json"


def test_each_notification_is_recorded_once(tmp_path):
    store = NotificationStore(tmp_path / "n.db")
    h = NotificationHandler(store)
    h([ev("InventoryReserved", "A", "e1"), ev("InventoryReserved", "A", "e1")])
    h([ev("InventoryReserved", "A", "e1")])
    assert store.count() == 1 and h.stats == {"sent": 1, "duplicates": 2, "poison": 0}
    assert "confirmed" in store.for_order("A")[0]["message"]


def test_notifications_are_logged_once_per_batch_with_their_counts(tmp_path, caplog):
    h = NotificationHandler(NotificationStore(tmp_path / "n.db"))
    h([ev("InventoryReserved", "A", "e0")])
    caplog.set_level("INFO", logger="notification-service")
    caplog.clear()  # the earlier batch may have been logged already (the level set by another test)
    h([ev("InventoryReserved", "A", "e0"), Delivery(next(_tags), b"garbage"),
       *[ev("InventoryFailed", f"B{i}", f"e{i}", "out_of_stock") for i in range(1, 5)]])
    (line,) = [r for r in caplog.records if r.msg.startswith("batch of")]
    assert (line.sent, line.duplicates, line.poison) == (4, 1, 1) and line.event_ids == ["e1", "e2", "e3", "e4"]
    assert len(caplog.records) == 3  # the batch, the duplicate, the poison message


def test_a_batch_of_notifications_costs_a_few_calls_to_sqlite(tmp_path, monkeypatch):
    store = NotificationStore(tmp_path / "n.db")
    store.record_many([{"event_id": "e0", "order_id": "A", "kind": "InventoryReserved", "message": "m"}])
    real, calls = store.db.conn(), []

    class Counting:
        def execute(self, *a):
            calls.append(a[0])
            return real.execute(*a)

        def executemany(self, *a):
            calls.append(a[0])
            return real.executemany(*a)

    monkeypatch.setattr(store.db, "conn", Counting)
    notes = [{"event_id": f"e{i % 150}", "order_id": "A", "kind": "InventoryReserved", "message": "m"}
             for i in range(200)]
    fresh = store.record_many(notes)
    assert len(calls) <= 4  # BEGIN, read the ids, insert the new ones, COMMIT
    assert fresh == [0 < i < 150 for i in range(200)] and store.count() == 150
