"""Part C's scenarios: each drives the running stack through `labkit.stack` and HTTP, and returns data.

The evidence writer (`streaming_kafka.lab.evidence`), the pytest assertions, the benchmark and the comparison
report all read these results; nothing here prints. Every count is a delta of the live analytics view
(one result per order, keyed by `order_id`), so the scenarios work on a broker that already holds events.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import requests

from common.faults import fault_env
from common.menu import ITEMS
from common.settings import Settings
from common.vocabulary import OrderStatus
from labkit.stack import Stack, run_steps, wait_for
from streaming_kafka.analytics_consumer.worker import ReplayResult, replay
from streaming_kafka.kafka_io import KafkaError
from streaming_kafka.lab.client import Client
from streaming_kafka.lag import LagRow, consumer_lag, format_table, total_lag
from streaming_kafka.topology import ANALYTICS_GROUP, INVENTORY_GROUP

INVENTORY, ANALYTICS, PRODUCER = "inventory-consumer", "analytics-consumer", "producer-order"
INVENTORY_2 = "inventory-consumer-2"  # the scale-out instance (compose profile `scaleout`), port inventory + 10
# Events per scenario: the evidence run's scale, and pytest's.
FULL = {"first": 10_000, "second": 100_000, "lag": 50_000, "crash": 100_000, "scale": 100_000}
QUICK = {"first": 5_000, "second": 10_000, "lag": 10_000, "crash": 20_000, "scale": 20_000}


# ---------------------------------------------------------------------------------- lag helpers
def lag_rows(settings: Settings) -> dict[str, list[LagRow]]:
    return {g: consumer_lag(settings, g) for g in (INVENTORY_GROUP, ANALYTICS_GROUP)}


def caught_up(settings: Settings, seen: dict | None = None) -> dict[str, list[LagRow]] | None:
    """Both groups at lag 0. Inventory is read first: once it is at 0 every result is in the log.
    `seen`, when given, keeps the last rows read of each group (what a timeout reports)."""
    seen = {} if seen is None else seen
    inventory = seen[INVENTORY_GROUP] = consumer_lag(settings, INVENTORY_GROUP)
    if total_lag(inventory) or any(r.current_offset is None and r.log_end_offset for r in inventory):
        return None
    analytics = seen[ANALYTICS_GROUP] = consumer_lag(settings, ANALYTICS_GROUP)
    if total_lag(analytics):
        return None
    return {INVENTORY_GROUP: inventory, ANALYTICS_GROUP: analytics}


def wait_caught_up(settings: Settings, timeout: float = 300) -> tuple[dict[str, list[LagRow]], float]:
    """Both groups at lag 0; a timeout names the partitions still behind, their owners and the last error."""
    t0 = time.perf_counter()
    seen: dict[str, list[LagRow]] = {}
    errors: list[str] = []

    def check():
        try:
            return caught_up(settings, seen)
        except KafkaError as exc:  # e.g. NoBrokersAvailable right after the broker was restarted: not caught up yet
            errors[:] = [f"{type(exc).__name__}: {exc}"]
            return None
    try:
        rows = wait_for(check, timeout, interval=0.25, what="lag 0 in both consumer groups")
    except TimeoutError as exc:
        behind = [r for rs in seen.values() for r in rs if r.lag or r.current_offset is None and r.log_end_offset]
        detail = format_table(behind) if behind else "no lag read" + (f" (last error {errors[0]})" if errors else "")
        raise TimeoutError(f"{exc}; still behind:\n{detail}") from None
    return rows, time.perf_counter() - t0


def counts(m: dict) -> dict:
    """The parts of the metrics the scenarios compare before and after."""
    return {"orders": m["total_orders_seen"], "reserved": m["total_reserved"], "failed": m["total_failed"],
            "pending": m["orders_pending"], "duplicates": m["duplicate_events_ignored"],
            "units": dict(m["reserved_units_by_item"]), "reasons": dict(m["failure_reasons"])}


def delta(before: dict, after: dict) -> dict:
    d = {k: after[k] - before[k] for k in ("orders", "reserved", "failed", "duplicates")}
    d["pending"] = after["pending"] - before["pending"]
    d["units"] = {i: after["units"].get(i, 0) - before["units"].get(i, 0) for i in ITEMS}
    d["reasons"] = {r: after["reasons"].get(r, 0) - before["reasons"].get(r, 0) for r in after["reasons"]}
    return d


# ---------------------------------------------------------------------------------- scenarios
@dataclass
class Produced:
    count: int
    fail_rate: float
    response: dict
    seconds_to_lag0: float
    lag: dict[str, list[LagRow]]
    delta: dict


def produce(stack: Stack, client: Client, count: int = FULL["first"], fail_rate: float = 0.1) -> Produced:
    """1 + 2: `/bulk` N events, time it, wait for lag 0 in both groups, check every order has one result."""
    settings = client.settings
    wait_caught_up(settings)
    before = counts(client.metrics())
    response = client.bulk(count, fail_rate)
    rows, waited = wait_caught_up(settings)
    after = counts(client.metrics())
    return Produced(count, fail_rate, response, round(response["http_seconds"] + waited, 3), rows,
                    delta(before, after))


@dataclass
class LagSample:
    t: float
    inventory_lag: int
    analytics_lag: int
    phase: str


@dataclass
class LagOverTime:
    count: int
    mode: str
    delay_ms: int = 0
    samples: list[LagSample] = field(default_factory=list)

    @property
    def peak(self) -> int:
        return max(s.inventory_lag for s in self.samples)

    @property
    def final(self) -> int:
        return self.samples[-1].inventory_lag


def lag_over_time(stack: Stack, client: Client, count: int = FULL["lag"], mode: str = "stop", delay_ms: int = 1,
                  interval: float = 0.5, paused_s: float = 3.0) -> LagOverTime:
    """2: the inventory consumer stopped (or throttled with INVENTORY_DELAY_MS) while orders arrive: lag grows
    while it is away, then drains to 0 once it is back (or unthrottled)."""
    settings = client.settings
    wait_caught_up(settings)
    result = LagOverTime(count, mode, delay_ms if mode != "stop" else 0)
    t0 = time.perf_counter()

    def sample(phase: str) -> int:
        rows = lag_rows(settings)
        s = LagSample(round(time.perf_counter() - t0, 2), total_lag(rows[INVENTORY_GROUP]),
                      total_lag(rows[ANALYTICS_GROUP]), phase)
        result.samples.append(s)
        return s.inventory_lag

    if mode == "stop":
        stack.stop(INVENTORY)
    else:
        stack.start(INVENTORY, env=fault_env(inventory_delay_ms=delay_ms))
    sample("before")
    producer = threading.Thread(target=client.bulk, args=(count, 0.1), daemon=True)
    producer.start()
    phase = "stopped" if mode == "stop" else f"throttled {delay_ms} ms/event"
    while producer.is_alive():
        sample(phase)
        time.sleep(interval)
    producer.join()
    end = time.perf_counter() + paused_s
    while time.perf_counter() < end:
        sample(phase)
        time.sleep(interval)
    stack.start(INVENTORY)  # back, without faults
    deadline = time.perf_counter() + 300
    while sample("draining") and time.perf_counter() < deadline:
        time.sleep(interval)
    wait_caught_up(settings)
    sample("caught up")
    return result


@dataclass
class Replays:
    runs: list[ReplayResult]
    live_text: str

    @property
    def identical(self) -> bool:
        return len({r.text for r in self.runs}) == 1

    @property
    def equal_to_live(self) -> bool:
        return all(r.text == self.live_text for r in self.runs)


def replay_twice(stack: Stack, client: Client) -> Replays:
    """3: two replays in fresh groups; both byte-identical to each other and to the live analytics."""
    settings = client.settings
    wait_caught_up(settings)
    live = client.metrics_text()
    runs = []
    for _ in range(2):
        # The group name has one-second resolution: make sure the second replay gets its own group.
        if runs:
            wait_for(lambda: int(time.time()) > int(runs[-1].group.rsplit("-", 1)[1]), 5, what="the next second")
        runs.append(replay(settings))
    return Replays(runs, live)


@dataclass
class Crash:
    count: int
    killed_pid: int | None
    processed_when_killed: int
    restart_seconds: float
    delta: dict
    stock_before: dict
    stock_after: dict
    store: dict
    lost: int
    extra: dict = field(default_factory=dict)

    @property
    def stock_used(self) -> dict:
        return {i: self.stock_before[i] - self.stock_after[i] for i in self.stock_before}


def _wait_for_progress(client: Client, at_least: int, timeout: float = 120) -> int:
    """Wait until `at_least` orders are reserved, then until the next batch's reservations become durable:
    the consumer is then producing that batch's results and has not committed its offsets, the window in
    which a crash makes the broker deliver events again whose effect is already done."""
    def done() -> int:
        return sum(client.reservations()["counts"].values())

    reached = wait_for(lambda: (n := done()) >= at_least and n, timeout, interval=0.05,
                       what=f"{at_least} orders processed")
    return wait_for(lambda: (n := done()) != reached and n, 30, interval=0.002, what="the next batch")


def _finish(settings, client, before, stock_before, t_restart, count, pid, processed, extra=None) -> Crash:
    wait_caught_up(settings, timeout=600)
    after = counts(client.metrics())
    d = delta(before, after)
    store = client.reservations()
    lost = count - (d["reserved"] + d["failed"])
    return Crash(count, pid, processed, round(t_restart, 2), d, stock_before, client.stock(), store, lost, extra or {})


def _produce_and_kill(client: Client, stack: Stack, count: int, kill_after: float) -> tuple[threading.Thread, int, int | None]:
    """`/bulk` of `count` events in the background; kill -9 the inventory consumer once `kill_after` of them are
    processed. Returns the producer thread, how many were processed at the kill, and the killed pid."""
    producer = threading.Thread(target=client.bulk, args=(count, 0.1), daemon=True)
    producer.start()
    processed = _wait_for_progress(client, int(count * kill_after))
    pid = stack.pid(INVENTORY)
    stack.kill(INVENTORY)
    return producer, processed, pid


def crash(stack: Stack, client: Client, count: int = FULL["crash"], kill_after: float = 0.3) -> Crash:
    """4: kill -9 the inventory consumer in the middle of `count` events, start it again; every order ends
    with exactly one result and stock moved by exactly the reserved units."""
    settings = client.settings
    wait_caught_up(settings)
    stock_before = client.reset_stock()
    before = counts(client.metrics())
    producer, processed, pid = _produce_and_kill(client, stack, count, kill_after)
    t0 = time.perf_counter()
    stack.start(INVENTORY)
    t_restart = time.perf_counter() - t0
    producer.join()
    result = _finish(settings, client, before, stock_before, t_restart, count, pid, processed)
    # Events the restarted consumer got again although their reservation was already durable: redelivered
    # because the crash came before the commit; each re-produced its stored result and changed no stock.
    stats = requests.get(f"{client.inventory_url}/health", timeout=5).json()["stats"]
    result.extra["redelivered_after_restart_already_processed"] = stats["duplicates"]
    return result


def scale_out(stack: Stack, client: Client, count: int = FULL["scale"], kill_after: float = 0.3) -> Crash:
    """5: a second inventory consumer joins `inventory-group` and the partitions are shared; kill -9 the
    first one mid-stream, the second takes its partitions over after the session timeout; nothing lost.
    Both instances must see one stock (natively one SQLite file, in Docker one named volume)."""
    settings = client.settings
    wait_caught_up(settings)
    stock_before = client.reset_stock()
    before = counts(client.metrics())
    stack.start(INVENTORY_2)
    second = f"http://127.0.0.1:{settings.inventory_port + 10}"
    survivor = Client(settings.model_copy(update={"inventory_url": second}))

    def parts(url):
        try:
            return requests.get(f"{url}/health", timeout=2).json().get("partitions")
        except (requests.RequestException, ValueError):
            return None

    def shared():
        a, b = parts(settings.inventory_url), parts(second)
        return (a, b) if a and b and len(a) + len(b) == settings.kafka_partitions else None
    try:
        shared_assignment = wait_for(shared, 60, interval=0.2, what="two consumers sharing the partitions")
        stock_seen = {INVENTORY: client.stock(), INVENTORY_2: survivor.stock()}
        producer, processed, pid = _produce_and_kill(client, stack, count, kill_after)
        t_kill = time.perf_counter()
        takeover = wait_for(lambda: (p := parts(second)) and len(p) == settings.kafka_partitions and p, 60,
                            interval=0.2, what="the second consumer owning every partition")
        takeover_s = time.perf_counter() - t_kill
        producer.join()
        wait_caught_up(settings, timeout=600)
        extra = {"shared": {INVENTORY: shared_assignment[0], INVENTORY_2: shared_assignment[1]},
                 "after_kill": {INVENTORY_2: takeover}, "takeover_seconds": round(takeover_s, 2),
                 "same_stock_seen_by_both": stock_seen[INVENTORY] == stock_seen[INVENTORY_2] == stock_before}
        result = _finish(settings, survivor, before, stock_before, 0.0, count, pid, processed, extra)  # 1st is dead
        stats = requests.get(f"{second}/health", timeout=5).json()["stats"]
        result.extra["redelivered_to_survivor_already_processed"] = stats["duplicates"]
    finally:
        stack.start(INVENTORY)
        stack.stop(INVENTORY_2)
    return result


@dataclass(frozen=True)
class Roundtrip:
    order_id: str
    accepted_ms: float  # until POST /order answered 202
    result_ms: float  # until analytics had the order's result
    status: str


@dataclass(frozen=True)
class Roundtrips:
    orders: list[Roundtrip]


def order_roundtrip(stack: Stack, client: Client, n: int = 5) -> Roundtrips:
    """`POST /order` then poll `GET /order/<id>` on analytics until the result arrives (the comparison hook)."""
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        placed = client.order(ITEMS[i % len(ITEMS)], 1)
        accepted = time.perf_counter() - t0
        oid = placed["order_id"]
        final = wait_for(lambda oid=oid: (s := client.order_status(oid)) and s["status"] != OrderStatus.PENDING and s,
                         60, interval=0.02, what="the order's result")
        out.append(Roundtrip(placed["order_id"], round(accepted * 1000, 1),
                             round((time.perf_counter() - t0) * 1000, 1), final["status"]))
    return Roundtrips(out)


@dataclass(frozen=True)
class Results:
    """run_all's results, one field per scenario (in the evidence file's terms), and each one's duration."""
    first: Produced
    second: Produced
    lag: LagOverTime
    lag_throttled: LagOverTime
    crash: Crash
    scale: Crash
    roundtrip: Roundtrips
    replay: Replays
    seconds: dict[str, float]  # per scenario (field name), in run order


SCENARIOS = (produce, lag_over_time, replay_twice, crash, scale_out, order_roundtrip)


def run_all(stack: Stack, settings: Settings, full: bool = True, progress=lambda _m: None) -> Results:
    """Every scenario, in the evidence file's order; full=False is pytest's smaller scale (QUICK)."""
    scale = FULL if full else QUICK
    client = Client(settings)
    client.reset_stock()
    steps = [
        ("first", f"TEST 1: /bulk {scale['first']} then {scale['second']} events",
         lambda: produce(stack, client, count=scale["first"])),
        ("second", None, lambda: produce(stack, client, count=scale["second"])),
        ("lag", f"TEST 2: lag over time ({scale['lag']} events, inventory consumer stopped)",
         lambda: lag_over_time(stack, client, count=scale["lag"])),
        ("lag_throttled", "TEST 2b: lag over time (5000 events, inventory consumer throttled with INVENTORY_DELAY_MS=2)",
         lambda: lag_over_time(stack, client, count=5000, mode="throttle", delay_ms=2, paused_s=2)),
        ("crash", "TEST 4: crash", lambda: crash(stack, client, count=scale["crash"])),
        ("scale", "TEST 5: scale-out", lambda: scale_out(stack, client, count=scale["scale"])),
        ("roundtrip", None, lambda: order_roundtrip(stack, client)),
        ("replay", "TEST 3: replay twice", lambda: replay_twice(stack, client)),  # last: the replays cover every event
    ]
    results, seconds = run_steps(steps, progress)
    return Results(**results, seconds=seconds)
