"""Part A's scenario ring: the scenarios of `sync_rest.lab.scenarios` against the natively started stack and, marked
`docker`, against the part's compose stack; every outcome is asserted (codes, reasons, counts, stock; latency
only as lower bounds). Run as a script, it is the evidence writer `python -m sync_rest.lab.evidence`.
"""
from __future__ import annotations

import sys

import pytest

from common.errors import exit_status
from sync_rest.lab import scenarios as sc
from sync_rest.lab.evidence.scenarios import main

# ---------------------------------------------------------------- pytest (scenario ring)
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client_settings(stack):
    """How these tests reach the stack under test: the native part's settings, or the compose stack's ports."""
    return stack.settings


@pytest.fixture(scope="module")
def results(stack, client_settings):
    return sc.run_all(stack, client_settings, full=False)


def test_baseline_all_confirmed(results):
    r = results.baseline
    assert r.statuses == [201] * 20
    assert all(c.state == "confirmed" and c.notification == "sent" for c in r.calls)


def test_delay_adds_at_least_the_injected_delay(results):
    r = results.delay
    assert r.statuses == [201] * sc.QUICK["delay"]
    assert min(c.ms for c in r.calls) >= 2000
    assert r.facts["delta_median_ms"] >= 2000 - results.baseline.summary.median


def test_forced_failure_is_422_service_error(results):
    r = results.failure
    assert r.statuses == [422] * 5
    assert {c.reason for c in r.calls} == {"service_error"}


def test_inventory_down_is_503(results):
    r = results.down
    assert r.statuses == [503] * 3
    assert {c.reason for c in r.calls} == {"inventory_unavailable"}


def test_timeout_is_504_before_inventory_answers(results, client_settings):
    r = results.timeout
    assert r.statuses == [504] * sc.QUICK["timeout"]
    assert {c.reason for c in r.calls} == {"inventory_timeout"}
    assert all(c.ms >= client_settings.inventory_timeout_s * 1000 for c in r.calls)  # it did wait for the timeout
    assert all(c.ms < r.facts["inventory_delay_ms"] for c in r.calls)  # and no longer than inventory


def test_concurrency_never_oversells(results):
    f = results.concurrency.facts
    assert (f["confirmed"], f["out_of_stock"], f["other"], f["stock_after"]) == (100, 100, 0, 0)
    assert f["distinct_order_ids"] == 200


def test_idempotency_reserves_once(results):
    s, c, t = (results.idempotency.facts[k] for k in ("sequential", "concurrent", "after_timeout"))
    assert s["statuses"] == [201] * 5 and len(s["order_ids"]) == 1 and s["replayed"] == 4
    assert s["reserved_units"] == s["quantity"]
    assert set(c["statuses"]) == {201} and len(c["order_ids"]) == 1
    assert c["reserved_units"] == c["quantity"]
    assert (t["first_status"], t["first_reason"], t["retry_status"]) == (504, "inventory_timeout", 201)
    assert t["same_order_id"] and t["stock_before"] - t["stock_after"] == t["quantity"]


def test_circuit_breaker_fails_fast_then_recovers(results):
    r = results.breaker
    k = r.facts["threshold"]
    assert r.statuses[:k] == [504] * k
    opened = [c for c in r.calls[k:] if c.status == 503]
    assert len(opened) >= 5 and all(c.circuit == "open" for c in opened)
    # failing fast: no open-circuit call waited anywhere near the timeout
    assert all(c.ms < r.facts["timeout_s"] * 1000 for c in opened)
    assert r.statuses[-2:] == [201, 201] and r.calls[-1].circuit == "closed"


if __name__ == "__main__":  # the lab's documented command, kept: the evidence writer
    sys.exit(exit_status(main))
