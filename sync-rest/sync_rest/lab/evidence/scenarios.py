"""Part A's scenario evidence: `python -m sync_rest.lab.evidence` (or `python sync-rest/tests/test_sync.py`) against a
running stack (`make up PART=sync-rest`) writes `sync-rest/tests/test_output.txt`.

The runtime: a running compose stack of sync-rest is driven with `docker compose` (its evidence goes to
`tests/docker/test_output.txt`), else the native one; STACK_RUNTIME=native|docker (or --runtime) forces one.
"""
from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from common.settings import ROOT, get_settings
from common.vocabulary import ReservationOutcome
from labkit import evidence
from labkit.stack import get_stack
from sync_rest.lab import scenarios as sc

PART_DIR = ROOT / "sync-rest"  # the part's folder

OUTPUT = PART_DIR / "tests" / "test_output.txt"
DOCKER_OUTPUT = PART_DIR / "tests" / "docker" / "test_output.txt"


# ---------------------------------------------------------------- evidence writer
def _call_line(c: sc.Call) -> str:
    extra = f" reason={c.reason}" if c.reason else ""
    extra += f" circuit={c.circuit}" if c.circuit else ""
    extra += " (replayed)" if c.replayed else ""
    return f"  req {c.n:>3}  | HTTP {c.status} | {c.state:<10} |{extra:<44} | {c.ms:>8.1f} ms"


def _summary(r: sc.ScenarioResult) -> list[str]:
    s = r.summary
    return [f"  --- summary ({s.n} requests) ---",
            f"  min    = {s.min:8.1f} ms", f"  max    = {s.max:8.1f} ms", f"  mean   = {s.mean:8.1f} ms",
            f"  median = {s.median:8.1f} ms", f"  p95    = {s.p95:8.1f} ms", f"  stdev  = {s.stdev:8.1f} ms"]


def _statuses(calls: list[sc.Call]) -> str:
    """The HTTP statuses as the run got them: "504 x3", "201 x100, 409 x100"."""
    return ", ".join(f"{code} x{n}" for code, n in sorted(Counter(c.status for c in calls).items()))


def _breaker(r: sc.ScenarioResult) -> str:
    f = r.facts
    waited = [c for c in r.calls if c.reason == ReservationOutcome.INVENTORY_TIMEOUT]
    fast = [c for c in r.calls if c.status == 503 and c.circuit == "open"]
    after = r.calls[r.calls.index(fast[-1]) + 1:] if fast else []
    then = ", ".join(f"HTTP {c.status} (circuit {c.circuit})" for c in after) or "no call"
    return (f"  {len(waited)} calls waited out the {f['timeout_s']:g} s timeout (threshold {f['threshold']}); "
            f"{len(fast)} calls then failed fast with 503 (max {max((c.ms for c in fast), default=0):.1f} ms); "
            f"after the {f['reset_s']:g} s cool-down, inventory healthy again: {then}.")


def render(results: sc.Results, runtime: str) -> str:
    out = [evidence.header("Part A: synchronous REST (order -> inventory -> notification)", runtime)]
    by = {r.key: r for r in results.in_order}
    for i, r in enumerate(results.in_order, 1):
        out.append(f"\nTEST {i}: {r.title}\n" + "-" * 78)
        if r.key in ("baseline", "delay", "failure", "down", "timeout", "breaker"):
            out += [_call_line(c) for c in r.calls]
            out += _summary(r)
        if r.key == "delay":
            b, d = r.facts["baseline"], r.facts["delayed"]
            out += ["", "  | scenario            | mean (ms) | median (ms) | p95 (ms) |",
                    "  |---------------------|-----------|-------------|----------|",
                    f"  | baseline (no delay) | {b['mean']:9.1f} | {b['median']:11.1f} | {b['p95']:8.1f} |",
                    f"  | {r.facts['delay_ms']} ms delay       | {d['mean']:9.1f} | {d['median']:11.1f} | {d['p95']:8.1f} |",
                    f"  delta: mean +{r.facts['delta_mean_ms']:.1f} ms, median +{r.facts['delta_median_ms']:.1f} ms"
                    f" (injected {r.facts['delay_ms']} ms): the blocking chain passed "
                    f"{r.facts['delta_median_ms'] / r.facts['delay_ms']:.0%} of it on to the client (median)."]
        if r.key == "timeout":
            out.append(f"  answers: {_statuses(r.calls)} after {r.summary.min:.0f}-{r.summary.max:.0f} ms (the order "
                       f"service's timeout: {r.facts['order_timeout_ms']:.0f} ms; inventory's delay: "
                       f"{r.facts['inventory_delay_ms']} ms).")
        if r.key == "concurrency":
            f = r.facts
            out += [f"  confirmed (201)      : {f['confirmed']}", f"  out_of_stock (409)   : {f['out_of_stock']}",
                    f"  other statuses       : {f['other']}", f"  pizza stock after    : {f['stock_after']}",
                    f"  distinct order ids   : {f['distinct_order_ids']}", f"  wall time            : {f['seconds']} s",
                    "  " + _summary(r)[0].strip(), *_summary(r)[1:]]
        if r.key == "idempotency":
            s, c, t = r.facts["sequential"], r.facts["concurrent"], r.facts["after_timeout"]
            out += ["  sequential retries (same key, 2 x burger):"]
            out += ["  " + _call_line(x) for x in r.calls[:len(s["statuses"])]]
            out += [f"    distinct order ids: {len(s['order_ids'])}, replayed answers: {s['replayed']}, "
                    f"burger stock {s['stock_before']} -> {s['stock_after']} (reserved {s['reserved_units']} units once)",
                    "  concurrent retries (same key, 3 x burger):",
                    f"    statuses {c['statuses']}, distinct order ids: {len(c['order_ids'])}, "
                    f"reserved {c['reserved_units']} units",
                    "  retry after a timeout (order timeout 0.5 s, inventory 1.5 s slow, 4 x salad):",
                    f"    first attempt: HTTP {t['first_status']} ({t['first_reason']}); inventory still reserved late",
                    f"    retry        : HTTP {t['retry_status']}, same order id: {t['same_order_id']}, "
                    f"salad stock {t['stock_before']} -> {t['stock_after']} (one reservation of {t['quantity']})"]
        if r.key == "breaker":
            out.append(_breaker(r))
    if "baseline" in by and "delay" in by:
        out.append("\nAnalysis\n" + "-" * 78)
        d = by["delay"].facts
        out.append(f"  A blocking chain adds the downstream delay to the client's latency: +{d['delta_median_ms']:.0f} ms "
                   f"(median) for {d['delay_ms']} ms injected. The answers when inventory misbehaves: "
                   + "; ".join(f"{by[k].title.split(' (')[0]}: {_statuses(by[k].calls)}"
                               for k in ("failure", "down", "timeout", "breaker") if k in by) + ".")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runtime", choices=("native", "docker"), default=None)
    ap.add_argument("--output", type=Path, default=None, help=f"default {OUTPUT} ({DOCKER_OUTPUT} under Docker)")
    args = ap.parse_args(argv)
    stack = get_stack("sync-rest", args.runtime, get_settings(), admin=True)
    stack.ensure_up()  # the whole part, as `make up` does: a half-started part would fail every notification
    with stack.admin_api():
        results = sc.run_all(stack, stack.settings, progress=lambda m: print(f"[sync-rest] {m}", flush=True))
    output = args.output or (DOCKER_OUTPUT if stack.runtime == "docker" else OUTPUT)
    evidence.write(output, render(results, stack.describe()))
    print(f"[sync-rest] evidence written to {output}")
    return 0
