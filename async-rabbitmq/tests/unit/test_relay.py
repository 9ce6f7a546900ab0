"""The outbox relay without a broker: publishes unpublished records, marks only what was confirmed."""
import json
import sqlite3

import pytest
from fakes import FakeChannel, confirm
from order_service.relay import OutboxRelay
from order_service.store import OrderStore

from common.settings import Settings

pytestmark = pytest.mark.unit


@pytest.fixture
def store(tmp_path):
    s = OrderStore(tmp_path / "orders.db")
    for i in range(5):
        s.place(f"ORD-{i}", "s", "pizza", 1, "order.placed")
    return s


def relay(store, max_inflight=1000):
    r = OutboxRelay(Settings(outbox_max_inflight=max_inflight), store)
    r.channel = FakeChannel()
    return r


def test_publishes_the_outbox_persistently_in_order(store):
    r = relay(store)
    r._pump()
    pub = r.channel.published
    assert [json.loads(p.body)["order_id"] for p in pub] == [f"ORD-{i}" for i in range(5)]
    assert all(p.exchange == "orders" and p.routing_key == "order.placed" for p in pub)
    assert all(p.properties.delivery_mode == 2 for p in pub)
    r._pump()
    assert len(r.channel.published) == 5  # in flight: not sent twice on the same connection


def test_marks_published_only_what_the_broker_confirmed(store):
    r = relay(store)
    r._pump()
    r._on_confirm(confirm(3, multiple=True))
    r._mark()  # normally after MARK_DELAY_S, or at once when nothing is in flight
    assert store.outbox_backlog() == 2 and r.published == 3
    r._on_confirm(confirm(5))
    r._mark()
    assert store.outbox_backlog() == 1
    r._on_confirm(confirm(4))  # the last one in flight: marked at once
    assert store.outbox_backlog() == 0


def test_unconfirmed_records_are_sent_again_after_a_reconnect(store):
    r = relay(store)
    r._pump()
    r._on_confirm(confirm(2, multiple=True))
    r.on_disconnected()  # records confirmed before the loss are marked, the others are sent again
    assert store.outbox_backlog() == 3
    r.channel = FakeChannel()
    r._pump()
    assert [json.loads(p.body)["order_id"] for p in r.channel.published] == ["ORD-2", "ORD-3", "ORD-4"]


def test_a_nack_reconnects_without_marking(store):
    r = relay(store)
    closed = []
    r.close = lambda: closed.append(True)
    r._pump()
    r._on_confirm(confirm(1, ack=False))
    assert closed and store.outbox_backlog() == 5


def test_inflight_is_bounded(store):
    r = relay(store, max_inflight=2)
    r._pump()
    assert len(r.channel.published) == 2
    r._on_confirm(confirm(2, multiple=True))  # confirms free the window and the relay continues
    assert len(r.channel.published) == 4


def test_order_and_outbox_are_one_transaction(tmp_path):
    s = OrderStore(tmp_path / "orders.db")
    s.place("ORD-1", "s", "pizza", 1, "order.placed")
    with pytest.raises(sqlite3.IntegrityError):
        s.place("ORD-1", "s", "pizza", 1, "order.placed")  # duplicate id: neither row is written
    assert s.outbox_backlog() == 1 and s.get("ORD-1")["status"] == "pending"


def test_enqueued_records_are_unpublished_in_order_with_their_bytes(tmp_path):
    s = OrderStore(tmp_path / "o.db")
    s.enqueue([("e1", "k", b'{"a":1}'), ("e2", "k", b'{"b":2}')])
    assert [(r.event_id, r.body) for r in s.unpublished(0, 10)] == [("e1", b'{"a":1}'), ("e2", b'{"b":2}')]
    assert s.outbox_backlog() == 2
