"""Part C's analytics fold without a broker: `MetricsState.add_many` over `orders` pre-built `OrderPlaced` values
(`/bulk`'s own generator) and one `InventoryReserved`/`InventoryFailed` value each, in batches of `batch` (the
replay's poll size), orders first as a replay reads them. With `records`, each batch is first made into one record
object per value (a namedtuple of kafka-python-ng's `ConsumerRecord` fields, headers list included) and the values
are read out of them, as a client's poll hands them over; without, the fold alone. Each round runs in a fresh
process under one garbage collector setting and prints its wall and CPU time, the time spent in collections
(gc.callbacks) and the process's peak RSS.

    .venv/bin/python scripts/bench_analytics_fold.py [orders] [rounds] [batch] [records|fold]

Settings compared: `default` (CPython's), `tuned` (what the analytics consumer and the replay command do at
start-up: `streaming_kafka.analytics_consumer.gc_tuning.tune_gc`) and `off` (no collection at all: the floor).
"""
from __future__ import annotations

import gc
import random
import resource
import statistics
import subprocess
import sys
import time
from collections import namedtuple

import orjson

MODES = ("default", "tuned", "off")
Record = namedtuple("Record", ["topic", "partition", "offset", "timestamp", "timestamp_type", "key", "value",
                               "headers", "checksum", "serialized_key_size", "serialized_value_size",
                               "serialized_header_size"])


def build_values(orders: int, seed: int = 1) -> list[bytes]:
    from streaming_kafka.events import inventory_result_bytes
    from streaming_kafka.producer_order.publisher import generate_events

    rng = random.Random(seed)
    placed = generate_events(orders, rng, 0.1, '"bulk"')[1]
    results = []
    for raw in placed:
        ev = orjson.loads(raw)
        ok = not ev["force_fail"]
        # a copy: orjson's own bytes object keeps the larger buffer it was written in (about 4 kB of RSS each)
        results.append(bytes(memoryview(inventory_result_bytes(
            ev["event_id"][::-1], ev["order_id"], ev["event_id"], ev["student_id"], ev["item"], ev["quantity"],
            1_780_000_000_000, "reserved" if ok else "failed", 100 if ok else None, None if ok else "forced_failure"))))
    return placed + results


def one_round(mode: str, orders: int, batch: int, records: bool) -> dict:
    import streaming_kafka.analytics_consumer.app  # noqa: F401 - the consumer's modules, which a full collection walks
    from streaming_kafka.analytics_consumer.gc_tuning import tune_gc
    from streaming_kafka.analytics_consumer.metrics import MetricsState

    values = build_values(orders)
    batches = [values[i:i + batch] for i in range(0, len(values), batch)]
    del values
    gc.collect()
    spent = [0.0]
    started = [0.0]

    def timer(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            spent[0] += time.perf_counter() - started[0]

    if mode == "tuned":
        tune_gc()
    elif mode == "off":
        gc.disable()
    gc.callbacks.append(timer)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    state = MetricsState(1_000_000)
    t0, c0 = time.perf_counter(), time.process_time()
    for n, values in enumerate(batches):
        if records:
            polled = [Record("OrderEvents", 0, n, 1_780_000_000_000, 0, None, v, [], None, -1, len(v), -1)
                      for v in values]
            values = [r.value for r in polled]
        state.add_many(values)
    metrics = state.metrics()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    gc.callbacks.remove(timer)
    return {"mode": mode, "events": sum(map(len, batches)), "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
            "gc_s": round(spent[0], 3), "collections": [s["collections"] for s in gc.get_stats()],
            "rss_before_fold_mb": round(rss0 / 1024), "peak_rss_mb": round(resource.getrusage(
                resource.RUSAGE_SELF).ru_maxrss / 1024), "orders": metrics["total_orders_seen"]}


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--round":
        print(orjson.dumps(one_round(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "records")).decode())
        return 0
    args = sys.argv[1:] + ["300000", "3", "20000", "records"][len(sys.argv) - 1:]
    orders, rounds, batch, records = int(args[0]), int(args[1]), int(args[2]), args[3]
    figures: dict[str, list[dict]] = {m: [] for m in MODES}
    for _ in range(rounds):  # the modes interleaved, so the machine's load falls on each alike
        for mode in MODES:
            out = subprocess.run([sys.executable, __file__, "--round", mode, str(orders), str(batch), records],
                                 check=True, capture_output=True, text=True).stdout
            figures[mode].append(orjson.loads(out))
    for mode, runs in figures.items():
        print(orjson.dumps({
            "mode": mode, "events": runs[0]["events"], "records": records,
            "cpu_s_median": statistics.median(r["cpu_s"] for r in runs),
            "wall_s_median": statistics.median(r["wall_s"] for r in runs),
            "gc_s_median": statistics.median(r["gc_s"] for r in runs),
            "peak_rss_mb_max": max(r["peak_rss_mb"] for r in runs),
            "rounds": [{k: r[k] for k in ("cpu_s", "wall_s", "gc_s", "collections", "peak_rss_mb")} for r in runs],
        }).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
