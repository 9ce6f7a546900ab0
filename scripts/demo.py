"""`make demo`: each part natively, one after another: start it, run its scenario script (which writes the
evidence files), stop it; then the measured comparison of the three patterns. Leaves nothing running."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from common.errors import StackError
from common.settings import ROOT, Settings
from labkit.runtime.control import Part, all_parts

STEPS = [
    ("sync-rest", ["-m", "sync_rest.lab.evidence"], ["sync-rest/tests/test_output.txt"]),
    ("async-rabbitmq", ["-m", "async_rabbitmq.lab.evidence"], ["async-rabbitmq/tests/test_output.txt"]),
    # the same part as a three-node cluster: a node killed under load, quorum then classic queues
    ("async-rabbitmq", ["-m", "async_rabbitmq.lab.evidence", "failover"],
     ["async-rabbitmq/tests/failover_evidence.txt", "docs/img/rabbitmq_failover.png"], {"BROKERS": "3"}),
    # --fresh: an empty broker, so the metrics cover this run only
    ("streaming-kafka", ["-m", "streaming_kafka.lab.evidence", "--fresh"],
     ["streaming-kafka/tests/test_output.txt", "streaming-kafka/tests/replay_evidence.txt",
      "streaming-kafka/metrics/metrics_output.json"]),
    # The chaos rings (10 rounds each): kill -9 a random service, the broker included, under load; account.
    ("async-rabbitmq", ["-m", "async_rabbitmq.lab.evidence", "chaos"], ["async-rabbitmq/tests/chaos_evidence.txt"]),
    ("streaming-kafka", ["-m", "streaming_kafka.lab.evidence", "chaos"], ["streaming-kafka/tests/chaos_evidence.txt"]),
    # Part C on three brokers: the script starts the cluster itself (BROKERS=3) on empty brokers.
    ("streaming-kafka", ["-m", "streaming_kafka.lab.evidence", "failover", "--fresh"],
     ["streaming-kafka/tests/failover_evidence.txt", "docs/img/kafka_failover.png"]),
    # Each part's dashboard in headless Chromium at its outage's peak (the script starts each part itself).
    ("sync-rest", ["-m", "labkit.dashboard_shots"],
     ["docs/img/dashboard_sync-rest.png", "docs/img/dashboard_async-rabbitmq.png",
      "docs/img/dashboard_streaming-kafka.png"]),
]
STARTS_ITSELF = {"streaming_kafka.lab.evidence failover", "labkit.dashboard_shots"}
# Part C's chaos run keeps its analytics file out of the committed metrics evidence.
STEP_ENV = {"streaming_kafka.lab.evidence chaos": {"METRICS_DIR": str(ROOT / ".run" / "streaming-kafka" /
                                                                       "chaos-metrics")}}
COMPARISON = ["docs/comparison.md", "docs/comparison.json", "docs/img/"]


def _name(command: list[str]) -> str:
    """`-m streaming_kafka.lab.evidence chaos --x` -> "streaming_kafka.lab.evidence chaos": which evidence writer it is."""
    return " ".join(a for a in command[1:3] if not a.startswith("-"))


def banner(text: str) -> None:
    print(f"\n{'=' * 78}\n{text}\n{'=' * 78}", flush=True)


def down_all() -> None:
    for part in all_parts():
        part.down(progress=lambda _m: None)


def running_parts() -> list[str]:
    """The native parts running now: a user's, which the demo must not stop (it stops all it starts)."""
    return [p.name for p in all_parts() if p.running_services()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", default="", help=f"run only these steps, e.g. 3,5 (1-{len(STEPS)}: the evidence "
                    f"steps in the order printed, {len(STEPS) + 1}: the comparison); default: all")
    args = ap.parse_args(argv)
    only = {int(n) for n in args.steps.split(",") if n.strip()}
    if only - set(range(1, len(STEPS) + 2)):
        ap.error(f"--steps: each step is 1-{len(STEPS) + 1}")
    running = running_parts()
    if running:  # the demo takes every part up and down itself: it will not stop a stack it did not start
        print(f"make demo runs every part itself and stops it afterwards; {', '.join(running)} is running: "
              "`make down` first", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    written: list[str] = []
    failed: list[str] = []
    try:
        for i, (part, script, files, *extra) in enumerate(STEPS, 1):
            if only and i not in only:
                continue
            overrides = extra[0] if extra else {}  # e.g. BROKERS=3: for the services and for the script
            banner(f"[{i}/{len(STEPS) + 1}] {part}{' ' + str(overrides) if overrides else ''}: start natively, "
                   "run the scenarios, write the evidence")
            # native even when a compose stack is running; the scripts reset stock (admin API)
            env = os.environ | {"STACK_RUNTIME": "native", "ADMIN_API": "true"} | STEP_ENV.get(_name(script), {}) | overrides
            try:
                if _name(script) not in STARTS_ITSELF:
                    Part(part, Settings(**{k.lower(): v for k, v in overrides.items()})).up(env=env)
                code = subprocess.call([sys.executable, *script], cwd=ROOT, env=env)
            except StackError as err:  # a service did not become healthy: the message says why
                print(err, file=sys.stderr)
                code = 1
            finally:
                Part(part).down()
            (written.extend(files) if code == 0 else failed.append(part))
            print(f"--- {part} done ({'ok' if code == 0 else f'FAILED, exit {code}'}) "
                  f"at {time.monotonic() - t0:.0f}s", flush=True)
        if not only or len(STEPS) + 1 in only:
            banner(f"[{len(STEPS) + 1}/{len(STEPS) + 1}] the comparison: one workload, three patterns")
            # native, like the steps above: a compose stack running beside must not be picked (or recreated)
            # Part C's analytics of the comparison's small workload is kept off the metrics evidence
            # (streaming-kafka/metrics/metrics_output.json is step 4's load test).
            code = subprocess.call([sys.executable, "scripts/compare.py"], cwd=ROOT, env=os.environ | {
                "STACK_RUNTIME": "native", "METRICS_DIR": str(ROOT / ".run" / "streaming-kafka" / "compare-metrics")})
            (written.extend(COMPARISON) if code == 0 else failed.append("comparison"))
    finally:
        down_all()
    banner(f"make demo finished in {time.monotonic() - t0:.0f}s; nothing is left running")
    for f in written:
        print(f"  {ROOT / f}")
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
