"""The outbox relay without a broker: publishes unpublished records, marks only what was confirmed."""
import json
import sqlite3
from types import SimpleNamespace

import pytest

from async_rabbitmq.lab.testing import FakeChannel, confirm
from async_rabbitmq.messaging.messages import OrderPlaced
from async_rabbitmq.order_service.relay import OutboxRelay
from async_rabbitmq.order_service.store import OrderStore
from common.settings import Settings

pytestmark = pytest.mark.unit


@pytest.fixture
def store(tmp_path):
    s = OrderStore(tmp_path / "orders.db")
    for i in range(5):
        s.place(OrderPlaced.new(order_id=f"ORD-{i}", student_id="s", item="pizza", quantity=1), "order.placed")
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
    s.place(OrderPlaced.new(order_id="ORD-1", student_id="s", item="pizza", quantity=1), "order.placed")
    with pytest.raises(sqlite3.IntegrityError):
        s.place(OrderPlaced.new(order_id="ORD-1", student_id="s",
                                item="pizza", quantity=1), "order.placed")  # duplicate id: neither row is written
    assert s.outbox_backlog() == 1 and s.get("ORD-1")["status"] == "pending"


def test_enqueued_records_are_unpublished_in_order_with_their_bytes(tmp_path):
    s = OrderStore(tmp_path / "o.db")
    s.enqueue([("e1", "k", b'{"a":1}'), ("e2", "k", b'{"b":2}')])
    assert [(r.event_id, r.body) for r in s.unpublished(0, 10)] == [("e1", b'{"a":1}'), ("e2", b'{"b":2}')]
    assert s.outbox_backlog() == 2


# -- unroutable publishes (mandatory + basic.return) ---------------------------------------------------------------
NO_ROUTE = SimpleNamespace(reply_code=312, reply_text="NO_ROUTE", exchange="orders")


def returned(r, i):
    """The broker's basic.return for the i-th publish on this channel (it comes before that publish's ack)."""
    r._on_return(r.channel, NO_ROUTE, r.channel.published[i].properties, r.channel.published[i].body)


def test_every_publish_is_mandatory(store):
    r = relay(store)
    r._pump()
    assert r.channel.published and all(p.mandatory for p in r.channel.published)


def test_a_returned_record_is_not_marked_published_and_is_visible(store):
    r = relay(store)
    r._pump()
    returned(r, 1)
    r._on_confirm(confirm(5, multiple=True))  # the broker confirms unroutable messages too
    assert store.outbox_backlog() == 1 and r.published == 4 and r.unroutable == 1
    doc = store.get("ORD-1")
    assert doc["status"] == "pending" and doc["publish"]["state"] == "unroutable"
    assert doc["publish"]["attempts"] == 1 and "NO_ROUTE" in doc["publish"]["last_error"]
    assert store.get("ORD-0")["publish"]["state"] == "published"
    assert store.unroutable_count() == 1


def test_a_held_record_waits_for_its_backoff_then_is_published(store):
    r = relay(store)
    r._pump()
    returned(r, 0)
    r._on_confirm(confirm(5, multiple=True))
    r._retry_due()
    r._pump()
    assert len(r.channel.published) == 5  # not sent again before its retry time
    store.release_deferred()  # its retry time has come
    r._retry_due()
    assert json.loads(r.channel.published[-1].body)["order_id"] == "ORD-0" and r.channel.published[-1].mandatory
    r._retry_due()
    assert len(r.channel.published) == 6  # in flight: not sent twice
    r._on_confirm(confirm(6))
    assert store.outbox_backlog() == 0 and store.get("ORD-0")["publish"]["state"] == "published"
    assert store.unroutable_count() == 0


def test_a_routed_publish_releases_the_held_records_at_once(store):
    r = relay(store)
    r._pump()
    for i in range(5):
        returned(r, i)
    r._on_confirm(confirm(5, multiple=True))
    assert store.outbox_backlog() == 5 and r.unroutable == 5
    store.place(OrderPlaced.new(order_id="ORD-new", student_id="s",
                                item="pizza", quantity=1), "order.placed")  # topology restored: the next publish is routed
    r._pump()
    r._on_confirm(confirm(6))
    assert sorted(json.loads(p.body)["order_id"] for p in r.channel.published[6:]) == [f"ORD-{i}" for i in range(5)]
    r._on_confirm(confirm(11, multiple=True))
    assert store.outbox_backlog() == 0 and r.published == 6


def test_unconfirmed_returns_are_forgotten_with_the_connection(store):
    r = relay(store)
    r._pump()
    returned(r, 0)
    r.on_disconnected()  # no ack came: nothing is known, the record is simply sent again
    assert store.unroutable_count() == 0 and store.outbox_backlog() == 5
    r.channel = FakeChannel()
    r._pump()
    assert len(r.channel.published) == 5


def test_unroutable_backoff_grows_with_jitter_and_is_capped(tmp_path):
    s = OrderStore(tmp_path / "orders.db", retry_max_s=4.0)
    s.place(OrderPlaced.new(order_id="ORD-1", student_id="s", item="pizza", quantity=1), "order.placed")
    delays = []
    for _ in range(6):
        s.mark_unroutable([1], "312 NO_ROUTE", now=1000.0)
        delays.append(s.get("ORD-1")["publish"]["retry_at"] - 1000.0)
    bases = [1, 2, 4, 4, 4, 4]
    assert all(b * 0.5 <= d <= b for d, b in zip(delays, bases, strict=True))
    assert s.get("ORD-1")["publish"]["attempts"] == 6
