"""Part C's scenario evidence: `python -m streaming_kafka.lab.evidence` (or `python streaming-kafka/tests/test_streaming.py`)
against a running stack (`make up PART=streaming-kafka`; started if it is not up) writes `tests/test_output.txt`,
`tests/replay_evidence.txt` and `metrics/metrics_output.json`.

`--fresh` restarts the part on an empty broker first (native: wipe; Docker: `down -v`), so the metrics cover
this run only.

The runtime: a running compose stack of streaming-kafka is driven with `docker compose` (evidence in
`tests/docker/`; the analytics container writes the metrics file itself, into its bind mount), else the native
one; STACK_RUNTIME=native|docker (or --runtime) forces one.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

from common.settings import ROOT, get_settings
from labkit import evidence
from labkit.stack import get_stack, wait_for
from streaming_kafka.lab import scenarios as sc
from streaming_kafka.lag import format_table
from streaming_kafka.topology import ANALYTICS_GROUP, INVENTORY_GROUP

PART_DIR = ROOT / "streaming-kafka"  # the part's folder

OUTPUT = PART_DIR / "tests" / "test_output.txt"
REPLAY_EVIDENCE = PART_DIR / "tests" / "replay_evidence.txt"
METRICS_OUTPUT = PART_DIR / "metrics" / "metrics_output.json"
DOCKER_DIR = PART_DIR / "tests" / "docker"


# ---------------------------------------------------------------- evidence writer
def _indent(text: str, n: int = 4) -> str:
    return "\n".join(" " * n + line for line in text.splitlines())


def _produced(p: sc.Produced) -> list[str]:
    r, d = p.response, p.delta
    return [
        f"  POST /bulk {{\"count\": {p.count}, \"fail_rate\": {p.fail_rate}}}",
        f"  Published: {r['published']} events in {r['seconds']:.2f}s ({r['events_per_second']:,} events/s, "
        f"acks=all; HTTP round trip {r['http_seconds']:.2f}s)",
        f"  Fail rate injected: {p.fail_rate:.0%} ({r['force_fail_flagged']} events flagged force_fail)",
        f"  Produced to lag 0 in both groups: {p.seconds_to_lag0:.2f}s",
        f"  Analytics, new orders: {d['orders']}  reserved: {d['reserved']}  failed: {d['failed']}  "
        f"(reasons {d['reasons']})  pending: {d['pending']}",
        f"  Every order has exactly one result: {d['reserved'] + d['failed'] == p.count == d['orders']}",
    ]


def _lag_over_time(lt: sc.LagOverTime) -> list[str]:
    how = "stopped" if lt.mode == "stop" else f"throttled with INVENTORY_DELAY_MS={lt.delay_ms}"
    out = [f"  {lt.count} events produced while the inventory consumer is {how}; lag sampled every 0.5 s:",
           "    t (s)   phase                      inventory-group lag   analytics-group lag"]
    for s in lt.samples:
        out.append(f"    {s.t:6.2f}  {s.phase:<26} {s.inventory_lag:>19}   {s.analytics_lag:>19}")
    away = "away" if lt.mode == "stop" else "slow"
    out.append(f"  peak inventory lag {lt.peak}, final {lt.final}: " + (
        f"the log kept the events while the consumer was {away}; it caught up (lag 0) once it was back to normal."
        if lt.final == 0 else f"it had NOT caught up when sampling ended ({lt.final} events behind)."))
    return out


def _crash(c: sc.Crash, title: str) -> list[str]:
    d = c.delta
    out = [f"  {title}",
           f"  events: {c.count}; orders processed when killed: {c.processed_when_killed}; killed pid: {c.killed_pid}",
           f"  analytics: new orders {d['orders']}, reserved {d['reserved']}, failed {d['failed']}, "
           f"pending {d['pending']}, lost {c.lost}",
           f"  re-delivered and re-produced results absorbed by key (duplicates ignored): {d['duplicates']}",
           "  stock arithmetic per item (start - end == units reserved per analytics == units reserved per store):"]
    for item in c.stock_before:
        out.append(f"    {item:<7} {c.stock_before[item]:>9} - {c.stock_after[item]:>9} = {c.stock_used[item]:>6}"
                   f"   analytics {d['units'][item]:>6}   store {c.store['reserved_units'].get(item, 0):>6}")
    exact = all(c.stock_used[i] == d["units"][i] == c.store["reserved_units"].get(i, 0) for i in c.stock_before)
    out.append(f"  exactly one effective result per order: {c.lost == 0 and d['reserved'] + d['failed'] == c.count}; "
               f"stock exact: {exact}")
    for k, v in c.extra.items():
        out.append(f"  {k}: {v}")
    return out


def render(results: sc.Results, runtime: str) -> str:
    out = [evidence.header("Part C: streaming with Kafka (producer-order -> OrderEvents -> inventory -> "
                           "InventoryEvents -> analytics)", runtime)]
    out.append("\nTEST 1: produce events through POST /bulk\n" + "-" * 78)
    out += _produced(results.first) + [""] + _produced(results.second)
    out.append("\nTEST 2: consumer lag\n" + "-" * 78)
    rows = results.second.lag
    out.append("  after catching up (lag 0):")
    for g in (INVENTORY_GROUP, ANALYTICS_GROUP):
        out.append(f"\n  {g}:\n" + _indent(format_table(rows[g])))
    out.append("")
    out += _lag_over_time(results.lag)
    out.append("")
    out += _lag_over_time(results.lag_throttled)
    out.append("\nTEST 3: replay (fresh consumer groups from the earliest offsets)\n" + "-" * 78)
    rp = results.replay
    for r in rp.runs:
        out.append(f"  {r.group}: {r.events} events in {r.seconds:.2f}s ({r.events_per_second:,.0f} events/s)")
    out.append(f"  both replays byte-identical: {rp.identical}; equal to the live analytics: {rp.equal_to_live}")
    out.append(f"  (full side-by-side metrics in {REPLAY_EVIDENCE.relative_to(ROOT)})")
    out.append("\nTEST 4: crash (kill -9 of the inventory consumer mid-stream, then start)\n" + "-" * 78)
    out += _crash(results.crash, f"restarted in {results.crash.restart_seconds:.1f}s (healthy once it has "
                                    "joined inventory-group: the broker first expires the killed member's session, "
                                    "session.timeout.ms = 10 s)")
    out.append("\nTEST 5: scale-out (two inventory consumers share the partitions; kill -9 one)\n" + "-" * 78)
    out += _crash(results.scale, "inventory-consumer killed, inventory-consumer-2 takes over")
    out.append("\nTEST 6: single orders (POST /order -> result visible on analytics GET /order/<id>)\n" + "-" * 78)
    for o in results.roundtrip.orders:
        out.append(f"  {o.order_id}  202 in {o.accepted_ms:6.1f} ms, {o.status} after {o.result_ms:6.1f} ms")
    return "\n".join(out) + "\n"


def render_replay(rp: sc.Replays, runtime: str) -> str:
    a, b = (json.loads(r.text) for r in rp.runs)
    live = json.loads(rp.live_text)
    out = [evidence.header("Part C: replay evidence (two replays in fresh groups, and the live analytics)", runtime)]
    for i, r in enumerate(rp.runs, 1):
        out.append(f"replay {i}: group {r.group}, {r.events} events up to the end offsets at its start, "
                   f"{r.seconds:.2f}s ({r.events_per_second:,.0f} events/s)")
        out.append("  end offsets: " + ", ".join(f"{k}={v}" for k, v in r.end_offsets.items()))
    def flat(m: dict) -> dict:
        rows = {}
        for key, value in m.items():
            if isinstance(value, dict):
                rows |= {f"{key}[{k}]": v for k, v in value.items()}
            else:
                rows[key] = value
        return rows
    fa, fb, fl = flat(a), flat(b), flat(live)
    keys = list(dict.fromkeys([*fa, *fb, *fl]))
    w = max(len(k) for k in keys) + 2
    out.append(f"\n{'metric':<{w}} {'replay 1':>14} {'replay 2':>14} {'live analytics':>14}  same")
    for key in keys:
        va, vb, vl = (json.dumps(x.get(key)) for x in (fa, fb, fl))
        out.append(f"{key:<{w}} {va:>14} {vb:>14} {vl:>14}  {va == vb == vl}")
    digests = [hashlib.sha256(t.encode()).hexdigest()[:16] for t in (*(r.text for r in rp.runs), rp.live_text)]
    out.append(f"\nsha256 of the rendered metrics: replay 1 {digests[0]}, replay 2 {digests[1]}, live {digests[2]}")
    out.append(f"replays byte-identical: {rp.identical}; equal to live analytics: {rp.equal_to_live}")
    out.append("\nreplay 1 metrics (replay 2 and live are byte-identical to this when the lines above say True):")
    out.append(rp.runs[0].text.rstrip())
    return "\n".join(out) + "\n"


def _container_metrics(stack, live_text: str) -> str:
    """Docker: the metrics file the analytics container wrote into its bind mount, as the host sees it; polled
    until it equals the live metrics (it is rewritten every METRICS_INTERVAL_S)."""
    source = stack.inspect(sc.ANALYTICS, '{{range .Mounts}}{{if eq .Destination "/metrics"}}{{.Source}}'
                                         '{{end}}{{end}}')
    path = Path(source) / "metrics_output.json"
    try:
        wait_for(lambda: path.exists() and path.read_text() == live_text, 30, interval=0.5,
                 what=f"{path} to hold the live metrics")
        same = True
    except TimeoutError:
        same = False
    return (f"metrics file written by the analytics-consumer container (uid {path.stat().st_uid if path.exists() else '-'}"
            f"): {path} exists: {path.exists()}, equal to the live analytics: {same}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runtime", choices=("native", "docker"))
    ap.add_argument("--quick", action="store_true", help="the pytest scale instead of 10k + 100k")
    ap.add_argument("--fresh", action="store_true", help="restart the part on an empty broker first")
    args = ap.parse_args(argv)
    stack = get_stack("streaming-kafka", args.runtime, get_settings(), admin=True)
    settings = stack.settings
    if args.fresh:
        stack.down()
        if stack.runtime == "native":
            from streaming_kafka.lab.broker.native import wipe
            wipe(settings)
    print(f"bringing up streaming-kafka ({stack.describe()}) ...")
    stack.ensure_up()
    t0 = time.monotonic()
    with stack.admin_api():
        results = sc.run_all(stack, settings, full=not args.quick, progress=print)
    docker = stack.runtime == "docker"
    out_dir = DOCKER_DIR if docker else OUTPUT.parent
    # which Kafka client every process of the part used (KAFKA_CLIENT): the figures differ between the two
    runtime = f"{stack.describe()}; Kafka client: {settings.kafka_client}"
    report = render(results, runtime)
    if docker:
        report += "\n" + _container_metrics(stack, results.replay.live_text) + "\n"
    written = [evidence.write(out_dir / OUTPUT.name, report),
               evidence.write(out_dir / REPLAY_EVIDENCE.name, render_replay(results.replay, runtime))]
    if not docker:  # under Docker the analytics container writes it (into its bind mount)
        written.append(evidence.write(METRICS_OUTPUT, results.replay.live_text))
    print(f"done in {time.monotonic() - t0:.0f}s: wrote " + ", ".join(str(p.relative_to(ROOT)) for p in written))
    return 0
