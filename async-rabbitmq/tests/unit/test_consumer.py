"""The batch consumer's bookkeeping without a broker: publish, confirm, then ack (multiple, contiguous)."""
import sqlite3

import pytest

from async_rabbitmq.lab.testing import FakeChannel, confirm
from async_rabbitmq.messaging.amqp import Outgoing, pop_confirmed
from async_rabbitmq.messaging.consumer import BatchConsumer, Delivery, Result
from async_rabbitmq.messaging.messages import REASON_HEADER
from common.settings import Settings

pytestmark = pytest.mark.unit


FAST = {"consumer_retry_budget_s": 0.2, "consumer_retry_initial_s": 0.001, "consumer_retry_max_wait_s": 0.01}


def consumer(handler=lambda ds: [Result(d.tag) for d in ds]) -> tuple[BatchConsumer, FakeChannel]:
    c = BatchConsumer(Settings(**FAST), "inventory_orders", handler, "orders_dlx")
    ch = FakeChannel()
    c.channel = ch
    c.generation = 1
    return c, ch


def out(n: int) -> Outgoing:
    return Outgoing("inventory_events", "inventory.reserved", f"{n}".encode())


def test_no_outgoing_acks_at_once():
    c, ch = consumer()
    c._on_results(1, [Result(1), Result(2)])
    assert ch.acks == [(2, True)]


def test_ack_waits_for_the_confirm_of_every_outgoing_message():
    c, ch = consumer()
    c._on_results(1, [Result(1, [out(1), out(2)]), Result(2, [out(3)])])
    assert len(ch.published) == 3 and ch.acks == []
    c._on_confirm(confirm(1))
    assert ch.acks == []  # delivery 1 still waits for publish 2
    c._on_confirm(confirm(3, multiple=True))
    assert ch.acks == [(2, True)]


def test_acks_only_a_contiguous_prefix():
    c, ch = consumer()
    c._on_results(1, [Result(1, [out(1)]), Result(2)])
    assert ch.acks == []  # 2 is done but 1 is not: acking 2 with multiple would ack 1 too
    c._on_confirm(confirm(1))
    assert ch.acks == [(2, True)]


def test_results_of_a_lost_connection_are_dropped():
    c, ch = consumer()
    c._on_results(0, [Result(1, [out(1)])])
    assert ch.published == [] and ch.acks == []


def test_nack_closes_so_the_deliveries_are_redone():
    c, ch = consumer()
    closed = []
    c.close = lambda: closed.append(True)
    c._on_results(1, [Result(1, [out(1)])])
    c._on_confirm(confirm(1, ack=False))
    assert closed and ch.acks == []


def test_transient_errors_are_retried_for_the_budget_then_dead_lettered():
    calls = []

    def flaky(ds):
        calls.append(len(ds))
        raise sqlite3.OperationalError("database is locked")

    c, _ = consumer(flaky)
    results = c._handle([Delivery(1, b"{}", "order.placed"), Delivery(2, b"{}", "order.placed")])
    assert len(calls) > 3 and set(calls) == {2}  # backed off and retried as long as the budget allows
    assert [r.tag for r in results] == [1, 2]
    dl = results[0].outgoing[0]
    assert dl.exchange == "orders_dlx" and dl.headers[REASON_HEADER] == "retries_exhausted"


def test_a_batch_failing_because_of_one_delivery_dead_letters_only_that_one():
    def handler(ds):
        if any(d.body == b"boom" for d in ds):
            raise RecursionError("maximum recursion depth exceeded")
        return [Result(d.tag) for d in ds]

    c, _ = consumer(handler)
    results = c._handle([Delivery(1, b"{}"), Delivery(2, b"boom"), Delivery(3, b"{}")])
    assert [r.tag for r in results] == [1, 2, 3]
    assert results[0].outgoing == () and results[2].outgoing == ()
    (dl,) = results[1].outgoing
    assert dl.headers[REASON_HEADER] == "handler_error" and c.dead_lettered == 1


def test_a_transient_error_that_clears_is_not_dead_lettered():
    state = {"n": 0}

    def once_flaky(ds):
        state["n"] += 1
        if state["n"] == 1:
            raise sqlite3.OperationalError("database is locked")
        return [Result(d.tag) for d in ds]

    c, _ = consumer(once_flaky)
    assert c._handle([Delivery(1, b"{}")]) == [Result(1)]


def test_a_confirm_pops_what_it_covers_and_nothing_else():
    inflight = {1: "a", 2: "b", 3: "c", 5: "e"}
    assert pop_confirmed(inflight, confirm(3, multiple=True).method) == ["a", "b", "c"]
    assert pop_confirmed(inflight, confirm(4).method) == []  # already gone or never sent: ignored
    assert pop_confirmed(inflight, confirm(5).method) == ["e"] and inflight == {}


def test_a_returned_publish_acks_nothing_and_closes_so_the_input_is_redone():
    """mandatory: a result no queue takes comes back (basic.return) before its confirm; the input is not acked."""
    from types import SimpleNamespace

    c, ch = consumer()
    closed = []
    c.close = lambda: closed.append(True)
    c._on_results(1, [Result(1, [out(1)]), Result(2, [out(2)])])
    assert all(p.mandatory for p in ch.published)
    c._on_confirm(confirm(1))
    assert ch.acks == [(1, True)]  # routed: acked as before
    c._on_return(ch, SimpleNamespace(reply_code=312, reply_text="NO_ROUTE", exchange="inventory_events",
                                     routing_key="inventory.reserved"), None, b"2")
    c._on_confirm(confirm(2))
    assert ch.acks == [(1, True)] and closed and c.unroutable == 1
