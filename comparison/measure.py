"""Run the comparison workload against one part (its native stack must be up) and write its results as JSON.

`python -m comparison.measure <part>`: the same orders and the same faults for every pattern:
1. latency with inventory normal, then 2 s slow (what the client waits for, and when the outcome is known);
2. inventory down for 30 s while orders keep coming at a steady rate, then back: what the client saw,
   the backlog over time, and how many orders ended confirmed, failed or lost;
3. whether the history can be recomputed (replay).
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

from tqdm import tqdm

from common.errors import exit_status
from common.faults import fault_env
from common.settings import ROOT, get_settings
from common.vocabulary import OrderStatus
from comparison.patterns import PATTERNS, Pattern
from labkit.stack import get_stack

NORMAL_N, SLOW_N, DELAY_MS = 40, 10, 2000
OUTAGE_S, RATE_PER_S, SETTLE_TIMEOUT_S = 30, 5, 180


def wait_final(p: Pattern, placed, timeout: float) -> None:
    """Fill in each accepted order's final outcome, polling until all are known or the timeout passes."""
    deadline = time.monotonic() + timeout
    pending = [x for x in placed if x.accepted and x.final is None and x.order_id]
    while pending and time.monotonic() < deadline:
        still = []
        for x in pending:
            x.final = p.final(x.order_id)
            if x.final is None:
                still.append(x)
        pending = still
        if pending:
            time.sleep(0.25)


def latency_phase(p: Pattern, n: int, label: str, start: int) -> dict:
    """Sequential orders; for each, the client's latency and the time until its outcome is final."""
    client_ms, final_ms, outcomes = [], [], []
    for i in tqdm(range(start, start + n), desc=label, unit="order", leave=False):
        t0 = time.perf_counter()
        x = p.place(i)
        client_ms.append(x.ms)
        while x.final is None and x.accepted and time.perf_counter() - t0 < 30:
            x.final = p.final(x.order_id)
            if x.final is None:
                time.sleep(0.005)
        final_ms.append((time.perf_counter() - t0) * 1000)
        outcomes.append(x.final or OrderStatus.UNKNOWN)
    return {"client_ms": client_ms, "final_ms": final_ms,
            "outcomes": {o: outcomes.count(o) for o in sorted(set(outcomes))}}


def outage_phase(p: Pattern, stack, start: int) -> dict:
    """Inventory down for OUTAGE_S while orders arrive at RATE_PER_S; then inventory returns."""
    samples, placed = [], []
    stop = threading.Event()
    t0 = time.monotonic()
    kafka = hasattr(p, "lag_by_group")

    def sampler():
        while not stop.is_set():
            row = {"t": round(time.monotonic() - t0, 2), "backlog": p.backlog()}
            if kafka:
                row["lag"] = p.lag_by_group()
            samples.append(row)
            stop.wait(0.5)

    thread = threading.Thread(target=sampler, daemon=True)
    stack.stop(p.inventory)
    down_at = time.monotonic() - t0
    thread.start()
    n = OUTAGE_S * RATE_PER_S
    for k in tqdm(range(n), desc="orders during the outage", unit="order", leave=False):
        due = t0 + down_at + k / RATE_PER_S
        time.sleep(max(0.0, due - time.monotonic()))
        x = p.place(start + k)
        x.t = round(time.monotonic() - t0, 2)
        placed.append(x)
    time.sleep(max(0.0, t0 + down_at + OUTAGE_S - time.monotonic()))
    stack.start(p.inventory)
    up_at = time.monotonic() - t0
    wait_final(p, placed, SETTLE_TIMEOUT_S)
    settled_at = time.monotonic() - t0
    if p.backlog() is not None:  # watch the backlog reach 0 (and, for Kafka, both groups' lag)
        end = time.monotonic() + 60
        while time.monotonic() < end and (samples and (samples[-1]["backlog"] or
                                                        any((samples[-1].get("lag") or {}).values()))):
            time.sleep(0.5)
    time.sleep(1.0)
    stop.set()
    thread.join()
    accepted = [x for x in placed if x.accepted]
    return {
        "down_at_s": round(down_at, 2), "up_at_s": round(up_at, 2), "settled_at_s": round(settled_at, 2),
        "orders": n, "rate_per_s": RATE_PER_S,
        "client_statuses": {str(s): [x.status for x in placed].count(s) for s in sorted({x.status for x in placed})},
        "client_ms": [x.ms for x in placed],
        "accepted": len(accepted),
        "confirmed": sum(x.final == OrderStatus.CONFIRMED for x in placed),
        "failed": sum(x.final == OrderStatus.FAILED for x in placed),
        "rejected_at_once": sum(not x.accepted for x in placed),
        "lost": sum(x.accepted and x.final is None for x in placed),
        "samples": samples,
        "placed_at": [x.t for x in placed],
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("part", choices=sorted(PATTERNS))
    ap.add_argument("--out", type=Path, default=ROOT / ".run" / "comparison")
    args = ap.parse_args()
    settings = get_settings()
    stack = get_stack(args.part, settings=settings)
    p = PATTERNS[args.part](settings)
    p.reset_stock()
    print(f"[{args.part}] latency, inventory normal", flush=True)
    normal = latency_phase(p, NORMAL_N, "normal", 0)
    print(f"[{args.part}] latency, inventory {DELAY_MS} ms slow", flush=True)
    stack.start(p.inventory, env=fault_env(inventory_delay_ms=DELAY_MS))
    slow = latency_phase(p, SLOW_N, "slow", 1000)
    stack.start(p.inventory)
    print(f"[{args.part}] inventory down for {OUTAGE_S} s, {RATE_PER_S} orders/s", flush=True)
    outage = outage_phase(p, stack, 2000)
    sent = NORMAL_N + SLOW_N + outage["orders"]
    print(f"[{args.part}] replay", flush=True)
    replay = p.replay(sent)
    result = {"part": args.part, "label": p.label, "normal": normal, "slow": slow, "delay_ms": DELAY_MS,
              "outage_s": OUTAGE_S, "outage": outage, "replay": replay}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.part}.json").write_text(json.dumps(result, indent=1))
    print(f"[{args.part}] confirmed {outage['confirmed']}, failed {outage['failed']}, lost {outage['lost']} "
          f"of {outage['orders']} orders placed during the outage", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(exit_status(main))
