"""Part A's evidence writer on results shaped like a real run's: every status, count and claim it prints comes
from the result it is given."""
import pytest

from sync_rest.lab import scenarios as sc
from sync_rest.lab.evidence.scenarios import render

pytestmark = pytest.mark.unit


def _calls(*specs) -> list[sc.Call]:
    """(status, reason, circuit, ms) per call, as Client.order records them."""
    return [sc.Call(i, status, "failed" if status >= 400 else "confirmed", reason, ms, circuit=circuit)
            for i, (status, reason, circuit, ms) in enumerate(specs, 1)]


def _results(timeout_calls, breaker_calls, delayed_ms=(2008.0, 2010.0)) -> sc.Results:
    ok = _calls((201, None, "closed", 8.0), (201, None, "closed", 9.0))
    base = sc.ScenarioResult("baseline", "Baseline latency (2 requests, no delay)", ok)
    delay = sc.ScenarioResult("delay", "2000 ms inventory delay (2 requests)",
                      _calls(*[(201, None, "closed", ms) for ms in delayed_ms]))
    b, d = base.summary, delay.summary
    delay.facts = {"delay_ms": 2000, "baseline": b.as_dict(), "delayed": d.as_dict(),
                   "delta_mean_ms": round(d.mean - b.mean, 1), "delta_median_ms": round(d.median - b.median, 1)}
    timeout = sc.ScenarioResult("timeout", "Inventory slower (8000 ms) than the order service's timeout (5 s), 3 requests",
                        timeout_calls, {"inventory_delay_ms": 8000, "order_timeout_ms": 5000.0})
    breaker = sc.ScenarioResult("breaker", "Circuit breaker (threshold 3, cool-down 3 s, timeout 1 s)", breaker_calls,
                        {"threshold": 3, "reset_s": 3.0, "timeout_s": 1.0})
    failure = sc.ScenarioResult("failure", "Inventory forced failure, FORCE_FAILURE=true (2 requests)",
                        _calls((422, "forced_failure", "closed", 5.0), (422, "forced_failure", "closed", 5.0)))
    down = sc.ScenarioResult("down", "Inventory stopped (2 requests)",
                     _calls((503, "inventory_unavailable", "closed", 3.0), (503, "inventory_unavailable", "closed", 3.0)))
    conc = sc.ScenarioResult("concurrency", "2 concurrent orders for 1 pizzas (2 client threads)", ok,
                     {"confirmed": 2, "out_of_stock": 0, "other": 0, "stock_after": 0, "seconds": 0.1,
                      "distinct_order_ids": 2})
    idem = sc.ScenarioResult("idempotency", "Idempotency-Key", [], {
        "sequential": {"statuses": [], "order_ids": ["a"], "replayed": 0, "stock_before": 1, "stock_after": 1,
                       "reserved_units": 0},
        "concurrent": {"statuses": [], "order_ids": ["b"], "reserved_units": 0},
        "after_timeout": {"first_status": 504, "first_reason": "inventory_timeout", "retry_status": 201,
                          "same_order_id": True, "stock_before": 4, "stock_after": 0, "quantity": 4}})
    return sc.Results(baseline=base, delay=delay, failure=failure, down=down, timeout=timeout, concurrency=conc,
                      idempotency=idem, breaker=breaker, seconds={})


TIMEOUTS = _calls(*[(504, "inventory_timeout", "closed", 5010.0)] * 3)
RECOVERED = _calls(*[(504, "inventory_timeout", "closed", 1007.0)] * 3, *[(503, "inventory_unavailable", "open", 3.0)] * 6,
                   (201, None, "closed", 15.0), (201, None, "closed", 9.0))


def test_as_a_real_run_measured_it():
    text = render(_results(TIMEOUTS, RECOVERED), "rt")
    assert "answers: 504 x3 after 5010-5010 ms (the order service's timeout: 5000 ms" in text
    assert ("3 calls waited out the 1 s timeout (threshold 3); 6 calls then failed fast with 503 (max 3.0 ms); "
            "after the 3 s cool-down, inventory healthy again: HTTP 201 (circuit closed), HTTP 201 (circuit closed).") in text
    assert "passed 100% of it on to the client (median)" in text


def test_the_text_follows_the_result_not_the_scenario_design():
    """The writer said "every request answered 504", "3 timeouts opened the breaker ... a probe found inventory
    healthy again", "passes the delay on in full" and "422/503/504" whatever the calls were."""
    mixed = _calls((504, "inventory_timeout", "closed", 5010.0), (503, "inventory_unavailable", "open", 2.0),
                   (504, "inventory_timeout", "closed", 5009.0))
    never_recovered = _calls(*[(504, "inventory_timeout", "closed", 1007.0)] * 2,
                             *[(503, "inventory_unavailable", "open", 3.0)] * 4)
    text = render(_results(mixed, never_recovered, delayed_ms=(1008.0, 1010.0)), "rt")
    assert "every request answered 504" not in text and "answers: 503 x1, 504 x2 after 2-5010 ms" in text
    assert "2 calls waited out the 1 s timeout (threshold 3); 4 calls then failed fast" in text
    assert "inventory healthy again: no call." in text and "a probe found inventory healthy" not in text
    assert "passed 50% of it on to the client" in text and "in full" not in text
    assert "Inventory stopped: 503 x2" in text and "422/503/504" not in text
