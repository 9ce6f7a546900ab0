"""Part B's scenario ring: the scenarios of `async_rabbitmq.lab.scenarios`, at a smaller scale, against the natively
started stack and, marked `docker`, against the part's compose stack; every outcome is asserted. Run as a
script, it is the evidence writer `python -m async_rabbitmq.lab.evidence`.
"""
from __future__ import annotations

import sys

import pytest

from async_rabbitmq.lab import scenarios as sc
from async_rabbitmq.lab.evidence.scenarios import main
from common.errors import exit_status
from common.menu import ITEMS

# ---------------------------------------------------------------- pytest (scenario ring)
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client_settings(stack):
    """How these tests reach the stack under test: the native part's settings, or the compose stack's ports."""
    return stack.settings


@pytest.fixture(scope="module")
def results(stack, client_settings):
    return sc.run_all(stack, client_settings, full=False)


@pytest.mark.parametrize("key", ["backlog_small", "backlog_big"])
def test_backlog_is_kept_then_drained(results, key):
    r = getattr(results, key)
    assert r.accepted_202 == r.n and r.statuses == [202]
    assert r.depth_while_down == r.n and r.mgmt_while_down["messages"] == r.n
    assert r.samples[-1][1] == 0
    assert r.counts == {"confirmed": r.n}


def test_drain_rate_is_reported(results):
    assert results.backlog_big.consumer_rate > 0


def test_duplicate_event_reserves_once(results):
    a, b = results.idempotency.same_run, results.idempotency.across_restart
    assert a.stock_pizza == a.expected_pizza and a.order["status"] == "confirmed"
    assert len(a.notifications) == 1
    assert any("reserved" in ln for ln in a.logs) and any("duplicate" in ln for ln in a.logs)
    assert b.stock_burger == b.expected_burger and b.depth_while_stopped == 1
    assert any("duplicate" in ln for ln in b.logs)


def test_poison_lands_in_dlq_with_its_reason(results):
    d = results.dead_letters
    assert d.dlq_depth == len(d.sent) >= 5
    assert [s.expected for s in d.sent] == [g["reason"] for g in d.dead_letters]
    assert len({s.expected for s in d.sent}) >= 5
    assert d.good_counts == {"confirmed": d.good_orders}
    assert d.queue_arguments["x-dead-letter-exchange"] == "orders_dlx"


def test_orders_survive_a_broker_outage(results):
    o = results.broker_outage
    assert o.statuses == [202] and o.outbox_backlog_while_down == o.n
    assert o.status_while_down == "pending"
    assert o.counts == {"confirmed": o.n}
    assert all(o.consumers_back.values())


def test_crash_mid_drain_loses_nothing_and_reserves_nothing_twice(results):
    c = results.crash
    assert c.accepted_202 == c.n and 0 < c.depth_after_kill <= c.n
    assert sum(c.counts.values()) == c.n and "pending" not in c.counts
    assert sum(c.reservations.values()) == c.n
    assert all(a.exact for a in c.arithmetic.values())
    assert set(c.arithmetic) == set(ITEMS)
    assert c.notifications == c.n


def test_fault_switches(results):
    f = results.faults
    assert f.force_failure.counts == {"failed": 5} and f.force_failure.reasons == ["service_error"]
    d = f.delay
    assert d.statuses == [202] * 5 and d.counts == {"confirmed": 5}
    assert d.accept_ms.max < d.delay_ms  # the 202 does not wait for inventory
    assert d.seconds_to_all_final >= 5 * d.delay_ms / 1000 * 0.9


if __name__ == "__main__":  # the lab's documented command, kept: the evidence writer
    sys.exit(exit_status(main))
