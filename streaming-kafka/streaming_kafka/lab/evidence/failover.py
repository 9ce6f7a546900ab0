"""Part C's cluster failover evidence: `python -m streaming_kafka.lab.evidence failover` (or
`python streaming-kafka/tests/test_failover.py`) starts the three-broker cluster (BROKERS=3; a running
single-broker stack is stopped first), runs both broker-failure scenarios and writes `tests/failover_evidence.txt`
and `docs/img/kafka_failover.png`.

`--fresh` restarts the cluster on empty brokers first; `--quick` uses the pytest scale.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path

from common.settings import ROOT, Settings
from labkit import evidence
from labkit.stack import NativeStack
from streaming_kafka.lab import failover as fo

PART_DIR = ROOT / "streaming-kafka"  # the part's folder

PART = "streaming-kafka"
OUTPUT = PART_DIR / "tests" / "failover_evidence.txt"
PLOT = ROOT / "docs" / "img" / "kafka_failover.png"
FULL, QUICK = 100_000, 15_000


# ---------------------------------------------------------------- evidence writer
def _leaders(leaders: dict[int, int]) -> str:
    return ", ".join(f"p{p}->{n}" for p, n in sorted(leaders.items()))


def render_failover(f: fo.Failover) -> list[str]:
    d, b = f.delta, f.bulk
    sent = (f"{b['published']} events in {b['seconds']:.2f}s ({b['events_per_second']:,} events/s, acks=all)"
            if "published" in b else f"FAILED: {b.get('error')}")
    out = [f"  POST /bulk {{\"count\": {f.count}, \"fail_rate\": 0.1}} -> {sent}",
           f"  OrderEvents leaders before: {_leaders(f.leaders_before)}; broker {f.victim} leads the most",
           f"  OrderEvents leaders at the kill: {_leaders(f.leaders_at_kill)}; broker {f.victim} leads "
           f"{', '.join(f'p{p}' for p in f.victim_partitions) or 'none'}",
           "  timeline (seconds since the scenario's start):"]
    timeline = [
        (f.killed_at, f"kill -9 kafka node {f.victim} ({f.produced_when_killed} events produced, "
                      f"{f.processed_when_killed} processed)"),
        (f.leader_change_at, f"leader change: no OrderEvents partition is led by broker {f.victim} any more "
                             f"({_leaders(f.leaders_moved)})"),
        (f.stall[1], "resumed: the inventory consumer processes orders again" if f.resumed else
                     "NOT resumed: no sample after the kill saw more orders processed than at the kill"),
        (f.restarted_at, f"broker {f.victim} started again (healthy after {f.restart_seconds:.1f}s)"),
        (f.back_in_isr_at, f"broker {f.victim} back in the ISR of every OrderEvents partition"),
        (f.seconds_to_lag0, "both groups at lag 0")]
    out += [f"    {t:7.2f}  {what}" for t, what in sorted(timeline, key=lambda e: e[0])]
    out += [f"  time without progress: {f.stall[2]:.2f}s (from {f.stall[0]:.2f}s to {f.stall[1]:.2f}s; "
           f"sampled every 0.5 s)",
           f"  OrderEvents leaders after: {_leaders(f.leaders_after)}",
           f"  analytics: new orders {d['orders']}, reserved {d['reserved']}, failed {d['failed']}, pending "
           f"{d['pending']}, lost {f.lost}; duplicates absorbed by key: {d['duplicates']}",
           f"  inventory store: {f.store['counts']} (one reservation record per event id)",
           "  stock arithmetic per item (start - end == units reserved per analytics == units per store):"]
    for item in f.stock_before:
        out.append(f"    {item:<7} {f.stock_before[item]:>9} - {f.stock_after[item]:>9} = {f.stock_used[item]:>6}"
                   f"   analytics {d['units'][item]:>6}   store {f.store['reserved_units'].get(item, 0):>6}")
    out.append(f"  0 lost: {f.lost == 0}; 0 double effects (stock exact): {f.stock_exact}; "
               f"replay equals live: {f.replay_equals_live}")
    out.append(f"  cost: peak RSS of the whole stack {f.peak_rss_mib:,.0f} MiB (three brokers and the three services); "
               f"CPU {f.cpu_seconds:.0f} s from the start to lag 0 ({f.cpu_seconds / f.seconds_to_lag0:.2f} cores "
               "on average)")
    return out


def render_refusal(r: fo.Refusal) -> list[str]:
    out = [f"  stopped {', '.join(r.stopped)} (a clean stop each: the partitions move and the ISR shrinks while "
           "the quorum still stands)",
           "  ISR of OrderEvents then: " + ", ".join(f"p{p}={isr}" for p, isr in sorted(r.isr_when_down.items())),
           f"  min.insync.replicas={r.min_insync_replicas}, acks=all: the writes while two brokers are down:"]
    for a in r.refused:
        out.append(f"    {a.t:6.2f}s  {a.status}  {a.body}")
    out.append(f"  statuses: {statuses(r.refused)}")
    out += [f"  OrderEvents records before {r.records_before}, after {r.records_after}; refused orders found in the "
            f"log: {r.refused_order_ids_in_log}; nothing written: {r.nothing_written}",
            f"  started {r.restarted}: the first write was accepted {r.resumed_after_s:.2f}s later"]
    for a in r.accepted:
        out.append(f"    {a.t:6.2f}s  {a.status}  order {a.body.get('order_id')}")
    out.append(f"  accepted orders with a result after lag 0: {r.accepted_with_result} of {len(r.accepted)}")
    return out


def render(f: fo.Failover, r: fo.Refusal | str, runtime: str) -> str:
    out = [evidence.header("Part C: broker failures on a three-broker KRaft cluster (replication factor 3, "
                           "min.insync.replicas=2, acks=all)", runtime)]
    out.append("\nSCENARIO 1: kill -9 the broker leading the most OrderEvents partitions during /bulk, then "
               "start it\n" + "-" * 78)
    out += render_failover(f)
    out.append(f"  throughput over time: {PLOT.relative_to(ROOT)}")
    out.append("\nSCENARIO 2: two brokers down: the producer refuses rather than lose data\n" + "-" * 78)
    out += render_refusal(r) if isinstance(r, fo.Refusal) else [f"  FAILED: {r}"]
    return "\n".join(out) + "\n"


def plot(f: fo.Failover, path: Path = PLOT) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = [s for s in f.samples if s.processed is not None]
    ts = [b.t for b in pts[1:]]
    rate = [(b.processed - a.processed) / (b.t - a.t) for a, b in zip(pts, pts[1:], strict=False)]
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.plot(ts, rate, lw=1.5, label="orders processed per second (inventory consumer)")
    for x, label, style in ((f.killed_at, f"kill -9 broker {f.victim}", "r--"),
                            (f.leader_change_at, "leaders moved", "k:"),
                            (f.stall[1], "resumed", "g-."),
                            (f.restarted_at, f"broker {f.victim} restarted", "b:")):
        ax.axvline(x, color=style[0], ls=style[1:], lw=1, label=f"{label} ({x:.1f}s)")
    ax.set_xlabel("seconds since the start of the scenario")
    ax.set_ylabel("orders/s")
    ax.set_title(f"Part C: {f.count:,} events, broker {f.victim} killed; {f.stall[2]:.1f}s without progress")
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def statuses(attempts: list[fo.Attempt]) -> str:
    """The HTTP statuses the run got, as counted: "504 x4", "503 x3, 504 x1"."""
    return ", ".join(f"{code} x{n}" for code, n in sorted(Counter(a.status for a in attempts).items()))


def readme_block(f: fo.Failover, r: fo.Refusal) -> str:
    b = f.bulk
    rate = f"{b['events_per_second']:,} events/s with acks=all" if "published" in b else "failed"
    return "\n".join([
        f"- `/bulk` of {f.count:,} events on three brokers, broker {f.victim} killed mid-stream: {rate}; "
        f"{f.stall[2]:.1f} s without progress (leaders moved {f.leader_change_at - f.killed_at:.1f} s after the "
        f"kill); lag 0 in both groups {f.seconds_to_lag0:.0f} s after the start; lost {f.lost}, stock exact "
        f"{f.stock_exact}, replay equals live {f.replay_equals_live}.",
        f"- Cost of the cluster during that run: peak RSS of the whole stack {f.peak_rss_mib:,.0f} MiB, "
        f"{f.cpu_seconds:.0f} CPU seconds ({f.cpu_seconds / f.seconds_to_lag0:.2f} cores on average).",
        f"- Two brokers down: {sum(a.status >= 400 for a in r.refused)} of {len(r.refused)} writes refused "
        f"({statuses(r.refused)}; the first: `{r.refused[0].body.get('detail', '')}`), "
        f"{r.records_after - r.records_before} records written; "
        f"writes accepted {r.resumed_after_s:.1f} s after a broker was started again.",
    ])


# ---------------------------------------------------------------- running it
def cluster_settings() -> Settings:
    return Settings(cluster_size=3)


def start_cluster(settings: Settings, fresh: bool) -> NativeStack:
    """The cluster and a single-broker stack share ports: stop whatever of the part is running first."""
    from streaming_kafka.lab.broker.native import wipe

    stack = NativeStack(PART, settings)
    if fresh or (stack._part.running_services() and stack._part.state("kafka-3") == "UNKNOWN"):
        NativeStack(PART, settings)._part.down(progress=lambda _m: None)
    if fresh:
        wipe(settings)
    # Analytics writes its metrics under .run: the committed metrics_output.json is the single broker's evidence.
    env = ({"METRICS_DIR": str(settings.part_dir(PART) / "cluster-metrics")} | dict(os.environ)
           | {"ADMIN_API": "true"})  # the scenarios reset stock through the admin API
    stack._part.up(env=env, progress=lambda _m: None)
    return stack


def run(settings: Settings, stack, count: int, progress=print) -> tuple[fo.Failover, fo.Refusal | str]:
    """Both scenarios; a failure of the second is returned as its message, so the first one's data is kept."""
    progress(f"SCENARIO 1: kill -9 the busiest OrderEvents leader during /bulk {count}")
    f = fo.broker_failover(settings, stack, count)
    progress("SCENARIO 2: two brokers down, then one back")
    try:
        return f, fo.refusal(settings, stack)
    except Exception as exc:  # noqa: BLE001 - reported in the evidence and by the exit code
        return f, f"{type(exc).__name__}: {exc}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help=f"{QUICK} events instead of {FULL}")
    ap.add_argument("--fresh", action="store_true", help="restart the cluster on empty brokers first")
    args = ap.parse_args(argv)
    settings = cluster_settings()
    t0 = time.monotonic()
    print("bringing up streaming-kafka on three brokers ...", flush=True)
    stack = start_cluster(settings, args.fresh)
    f, r = run(settings, stack, QUICK if args.quick else FULL)
    evidence.write(OUTPUT, render(f, r, stack.describe() + ", BROKERS=3"))
    plot(f)
    if not isinstance(r, fo.Refusal):
        print(f"scenario 2 failed: {r}", file=sys.stderr)
        return 1
    if not args.quick:  # the figures docs/clusters.md shows come from full-scale runs only
        evidence.replace_block(ROOT / "docs" / "clusters.md", "kafka-cluster", readme_block(f, r))
    print(f"done in {time.monotonic() - t0:.0f}s: wrote {OUTPUT.relative_to(ROOT)}, {PLOT.relative_to(ROOT)}")
    return 0
