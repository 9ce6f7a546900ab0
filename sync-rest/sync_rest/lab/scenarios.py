"""Part A's scenarios: each starts or breaks the stack through `labkit.stack`, drives real requests,
and returns data. The evidence writer (`sync_rest.lab.evidence`), the pytest assertions and the comparison
report all read these results; nothing here prints.
"""
from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields

import requests

from common.faults import fault_env
from common.menu import INITIAL_STOCK
from common.settings import Settings
from common.vocabulary import ReservationOutcome
from labkit.stack import Stack, run_steps, wait_for
from labkit.stats import Summary, summarize
from sync_rest.lab.client import Call, Client

INVENTORY, ORDER = "inventory-service", "order-service"


@dataclass
class ScenarioResult:
    key: str
    title: str
    calls: list[Call] = field(default_factory=list)
    facts: dict = field(default_factory=dict)

    @property
    def statuses(self) -> list[int]:
        return [c.status for c in self.calls]

    @property
    def summary(self) -> Summary:
        return summarize([c.ms for c in self.calls])


def _fresh(stack: Stack, client: Client, inventory_env: dict | None = None, order_env: dict | None = None) -> None:
    """Inventory and order service restarted with exactly these faults (none by default), stock reset.
    Restarting the order service also gives it a closed circuit breaker."""
    stack.start(INVENTORY, env=inventory_env or {})
    stack.start(ORDER, env=order_env or {})
    client.reset_stock()


def baseline(stack: Stack, client: Client, n: int = 20) -> ScenarioResult:
    _fresh(stack, client)
    return ScenarioResult("baseline", f"Baseline latency ({n} requests, no delay)",
                  [client.order(i) for i in range(1, n + 1)])


def inventory_delay(stack: Stack, client: Client, base: ScenarioResult | None = None, delay_ms: int = 2000,
                    n: int = 10) -> ScenarioResult:
    """The same requests with inventory slowed by `delay_ms`, compared with `base` (a baseline run first if none)."""
    base = base or baseline(stack, client)
    _fresh(stack, client, inventory_env=fault_env(inventory_delay_ms=delay_ms))
    res = ScenarioResult("delay", f"{delay_ms} ms inventory delay ({n} requests)",
                 [client.order(i) for i in range(1, n + 1)])
    b, d = base.summary, res.summary
    res.facts = {"delay_ms": delay_ms, "baseline": b.as_dict(), "delayed": d.as_dict(),
                 "delta_mean_ms": round(d.mean - b.mean, 1), "delta_median_ms": round(d.median - b.median, 1)}
    return res


def forced_failure(stack: Stack, client: Client, n: int = 5) -> ScenarioResult:
    _fresh(stack, client, inventory_env=fault_env(force_failure=True))
    return ScenarioResult("failure", f"Inventory forced failure, FORCE_FAILURE=true ({n} requests)",
                  [client.order(i) for i in range(1, n + 1)])


def inventory_down(stack: Stack, client: Client, n: int = 3) -> ScenarioResult:
    _fresh(stack, client)
    stack.stop(INVENTORY)
    try:
        calls = [client.order(i) for i in range(1, n + 1)]
    finally:
        stack.start(INVENTORY)
    return ScenarioResult("down", f"Inventory stopped ({n} requests)", calls)


def inventory_timeout(stack: Stack, client: Client, delay_ms: int = 8000, n: int = 3) -> ScenarioResult:
    settings = client.settings
    _fresh(stack, client, inventory_env=fault_env(inventory_delay_ms=delay_ms))
    res = ScenarioResult("timeout", f"Inventory slower ({delay_ms} ms) than the order service's timeout "
                            f"({settings.inventory_timeout_s:g} s), {n} requests",
                 [client.order(i) for i in range(1, n + 1)])
    res.facts = {"inventory_delay_ms": delay_ms, "order_timeout_ms": settings.inventory_timeout_s * 1000}
    return res


def concurrency(stack: Stack, client: Client, orders: int = 200, stock: int = 100, workers: int = 50) -> ScenarioResult:
    _fresh(stack, client)
    client.reset_stock({**INITIAL_STOCK, "pizza": stock})
    sessions = [requests.Session() for _ in range(workers)]

    def one(i: int) -> Call:
        return client.order(i, session=sessions[i % workers])

    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        calls = list(pool.map(one, range(1, orders + 1)))
    elapsed = time.perf_counter() - t0
    res = ScenarioResult("concurrency", f"{orders} concurrent orders for {stock} pizzas ({workers} client threads)", calls)
    res.facts = {"confirmed": res.statuses.count(201),
                 "out_of_stock": sum(c.reason == ReservationOutcome.OUT_OF_STOCK for c in calls),
                 "other": sum(c.status not in (201, 409) for c in calls),
                 "stock_after": client.stock()["pizza"], "seconds": round(elapsed, 2),
                 "distinct_order_ids": len({c.order_id for c in calls})}
    return res


def idempotency(stack: Stack, client: Client, retries: int = 5) -> ScenarioResult:
    """Three cases: sequential retries, concurrent retries, and a retry after the first attempt timed out."""
    _fresh(stack, client)
    before = client.stock()["burger"]
    key = f"retry-{uuid.uuid4().hex[:12]}"
    calls = [client.order(i, item="burger", quantity=2, key=key, student="s-retry") for i in range(1, retries + 1)]
    after_seq = client.stock()["burger"]

    key2 = f"race-{uuid.uuid4().hex[:12]}"
    sessions = [requests.Session() for _ in range(retries)]
    with ThreadPoolExecutor(retries) as pool:
        race = list(pool.map(lambda i: client.order(100 + i, item="burger", quantity=3, key=key2,
                                                    session=sessions[i], student="s-race"), range(retries)))
    after_race = client.stock()["burger"]

    # The hard case: inventory reserves after the order service gave up (504); the retry must not reserve again.
    key3 = f"late-{uuid.uuid4().hex[:12]}"
    _fresh(stack, client, inventory_env=fault_env(inventory_delay_ms=1500), order_env={"INVENTORY_TIMEOUT_S": "0.5"})
    s0 = client.stock()["salad"]
    first = client.order(200, item="salad", quantity=4, key=key3, student="s-late")
    wait_for(lambda: client.stock()["salad"] == s0 - 4, 10, what="inventory to finish the late reservation")
    stack.start(INVENTORY)  # back to normal speed; the order service still has its short timeout
    retry = client.order(201, item="salad", quantity=4, key=key3, student="s-late")
    stack.start(ORDER)
    res = ScenarioResult("idempotency", f"Idempotency-Key: {retries} sequential retries, {retries} concurrent retries, "
                                "a retry after a timeout", calls + race + [first, retry])
    res.facts = {
        "sequential": {"key": key, "order_ids": sorted({c.order_id for c in calls}), "statuses": [c.status for c in calls],
                       "replayed": sum(c.replayed for c in calls), "stock_before": before, "stock_after": after_seq,
                       "reserved_units": before - after_seq, "quantity": 2},
        "concurrent": {"key": key2, "order_ids": sorted({c.order_id for c in race}), "statuses": [c.status for c in race],
                       "stock_after": after_race, "reserved_units": after_seq - after_race, "quantity": 3},
        "after_timeout": {"key": key3, "first_status": first.status, "first_reason": first.reason,
                          "retry_status": retry.status, "same_order_id": first.order_id == retry.order_id,
                          "stock_before": s0, "stock_after": client.stock()["salad"], "quantity": 4},
    }
    return res


def circuit_breaker(stack: Stack, client: Client, threshold: int = 3, reset_s: float = 3.0,
                    timeout_s: float = 1.0, open_calls: int = 5) -> ScenarioResult:
    """Inventory hangs (slower than the timeout): the first calls each wait out the timeout, then the breaker
    opens and calls fail at once; inventory recovers and, after the cool-down, a probe closes the breaker."""
    order_env = {"INVENTORY_TIMEOUT_S": str(timeout_s), "BREAKER_FAILURE_THRESHOLD": str(threshold),
                 "BREAKER_RESET_S": str(reset_s)}
    _fresh(stack, client, inventory_env=fault_env(inventory_delay_ms=int(timeout_s * 1000 * 3)), order_env=order_env)
    calls = [client.order(i) for i in range(1, threshold + open_calls + 1)]
    stack.start(INVENTORY)  # inventory is healthy again
    opened = time.monotonic()
    while True:  # still open: fail fast until the cool-down is over
        c = client.order(len(calls) + 1)
        calls.append(c)
        if c.status != 503:
            break
        time.sleep(0.5)
        if time.monotonic() - opened > reset_s * 4:
            break
    calls.append(client.order(len(calls) + 1))
    stack.start(ORDER)
    res = ScenarioResult("breaker", f"Circuit breaker (threshold {threshold}, cool-down {reset_s:g} s, "
                            f"timeout {timeout_s:g} s)", calls)
    res.facts = {"threshold": threshold, "reset_s": reset_s, "timeout_s": timeout_s}
    return res


@dataclass(frozen=True)
class Results:
    """run_all's results, one field per scenario (named by its `ScenarioResult.key`) in the evidence file's order, and
    each one's duration."""
    baseline: ScenarioResult
    delay: ScenarioResult
    failure: ScenarioResult
    down: ScenarioResult
    timeout: ScenarioResult
    concurrency: ScenarioResult
    idempotency: ScenarioResult
    breaker: ScenarioResult
    seconds: dict[str, float]  # per scenario (field name), in run order

    @property
    def in_order(self) -> list[ScenarioResult]:
        return [getattr(self, f.name) for f in fields(self) if f.name != "seconds"]


SCENARIOS = (baseline, inventory_delay, forced_failure, inventory_down, inventory_timeout, concurrency, idempotency,
             circuit_breaker)


# Requests per slow scenario: the evidence's sizes (the lab's original ones), and pytest's (full=False), which
# wait out fewer delays and timeouts and assert the same things.
FULL = {"delay": 10, "timeout": 3}
QUICK = {"delay": 4, "timeout": 2}


def run_all(stack: Stack, settings: Settings, full: bool = True, progress=lambda _m: None) -> Results:
    """Every scenario, in the evidence file's order; full=False is pytest's smaller scale (QUICK)."""
    client = Client(settings)
    scale = FULL if full else QUICK
    steps = [
        ("baseline", "baseline", lambda: baseline(stack, client)),
        ("delay", "2 s inventory delay",
         lambda: inventory_delay(stack, client, base=results["baseline"], n=scale["delay"])),
        ("failure", "forced failure", lambda: forced_failure(stack, client)),
        ("down", "inventory stopped", lambda: inventory_down(stack, client)),
        ("timeout", "inventory slower than the timeout", lambda: inventory_timeout(stack, client, n=scale["timeout"])),
        ("concurrency", "200 concurrent orders for 100 pizzas", lambda: concurrency(stack, client)),
        ("idempotency", "idempotency keys", lambda: idempotency(stack, client)),
        ("breaker", "circuit breaker", lambda: circuit_breaker(stack, client)),
    ]
    results: dict[str, ScenarioResult] = {}  # filled as the steps run: the delay step reads the baseline's
    _, seconds = run_steps([(key, f"{i}/{len(steps)} {what}", fn) for i, (key, what, fn) in enumerate(steps, 1)],
                           progress, results=results)
    _fresh(stack, client)
    return Results(**results, seconds=seconds)
