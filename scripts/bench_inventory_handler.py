"""Part C's inventory handler without a broker: `InventoryHandler.handle` on batches of `OrderPlaced` values (made
by `/bulk`'s own generator) against a StockStore whose reservations table already holds `rows` records, as the
inventory consumer's database does after a few benchmark runs. Prints the median microseconds per event of each
round (a round: a fresh copy of the database, `batches` batches of `size`), in CPU time (the process's, system
calls included: what a shared machine's load changes least) and wall time.

    .venv/bin/python scripts/bench_inventory_handler.py [rows] [rounds] [batches] [size]

The pre-filled database is built once under .run/bench-inventory/ (random 32-hex keys, the shape of the
reservation records before event ids were time-ordered) and copied for each round.
"""
from __future__ import annotations

import random
import shutil
import statistics
import sys
import time
import uuid
from pathlib import Path

import orjson

from common.menu import uniform_stock
from common.stock import StockStore
from streaming_kafka.inventory_consumer.handler import InventoryHandler
from streaming_kafka.producer_order.publisher import generate_events

OUT = Path(".run/bench-inventory")


def prefilled(rows: int) -> Path:
    path = OUT / f"base-{rows}.db"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    store = StockStore(tmp, uniform_stock(10**9))
    now = time.time()
    with store.db.transaction() as db:
        for lo in range(0, rows, 50_000):
            db.executemany(
                "INSERT INTO reservations(key, item, quantity, outcome, remaining, reason, payload, created_at)"
                " VALUES (?, 'pizza', 1, 'reserved', 1000, NULL, ?, ?)",
                [(k, orjson.dumps({"event_id": uuid.uuid4().hex, "ts_ms": 1_780_000_000_000,
                                   "order_id": f"ORD-1780000000000-{k[:8]}", "student_id": "bulk"}).decode(), now)
                 for k in (uuid.uuid4().hex for _ in range(lo, min(rows, lo + 50_000)))])
    store.db.conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    tmp.rename(path)
    return path


def one_round(base: Path, batches: int, size: int, seed: int) -> tuple[float, float]:
    db = OUT / "round.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(base, db)
    store = StockStore(db, uniform_stock(10**9))
    handler = InventoryHandler(store)
    rng = random.Random(seed)
    values = [generate_events(size, rng, 0.1, '"bulk"')[1] for _ in range(batches)]
    handler.handle(values[0])  # warm: connection, statements
    wall, cpu = [], []
    for batch in values[1:]:
        t0, c0 = time.perf_counter(), time.process_time()
        handler.handle(batch)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    store.close()
    return statistics.median(wall) / size * 1e6, statistics.median(cpu) / size * 1e6


def main() -> int:
    rows, rounds, batches, size = (int(a) for a in (sys.argv[1:] + ["1500000", "5", "41", "500"][len(sys.argv) - 1:]))
    base = prefilled(rows)
    figures = [one_round(base, batches, size, seed) for seed in range(rounds)]
    print(orjson.dumps({"rows": rows, "batch": size, "batches": batches - 1,
                        "cpu_us_per_event": round(statistics.median(c for _, c in figures), 1),
                        "wall_us_per_event": round(statistics.median(w for w, _ in figures), 1),
                        "rounds_cpu_us": [round(c, 1) for _, c in figures]}).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
