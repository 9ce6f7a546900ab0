"""Profile Part C's `/bulk` (producer-order) and its two consumers with py-spy, under the client KAFKA_CLIENT picks.

Needs Part C's native stack running (`make up PART=streaming-kafka`, admin API on) and py-spy in the venv
(`.venv/bin/pip install py-spy`). First producer-order is recorded during a `/bulk` of n events with both consumers
stopped (the benchmark's `/bulk` figure); then both consumers are started and each is recorded until both groups
are at lag 0 (the end-to-end figure's consumer side). Prints per process and thread the top functions (self and
inclusive share of the samples, as scripts/profile_part_b.py). Raw profiles go to OUT (default .run/profile-c).

    .venv/bin/python scripts/profile_part_c.py [n] [out]
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from profile_part_b import record, stop_recording, summarise  # this script's folder, scripts/

from common.settings import get_settings
from labkit.stack import NativeStack
from streaming_kafka.lab.client import Client
from streaming_kafka.lab.scenarios import wait_caught_up

CONSUMERS = ("inventory-consumer", "analytics-consumer")


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    out = Path(sys.argv[2] if len(sys.argv) > 2 else ".run/profile-c")
    out.mkdir(parents=True, exist_ok=True)
    settings = get_settings()
    stack = NativeStack("streaming-kafka", settings, admin=True)
    client = Client(settings)
    client.reset_stock()
    wait_caught_up(settings, timeout=300)
    summary: dict = {"n": n, "client": settings.kafka_client, "compression": settings.kafka_compression}

    for service in CONSUMERS:
        stack.stop(service)
    client.bulk(1000, 0.1)  # warm: the bulk producer connected
    spy = record(stack.pid("producer-order"), out / "producer-order.txt", "--subprocesses")  # gunicorn's workers
    summary["bulk"] = [client.bulk(n, 0.1) for _ in range(3)]  # three, for enough samples
    stop_recording(spy)

    spies = []
    for service in CONSUMERS:
        stack.start(service)
        spies.append(record(stack.pid(service), out / f"{service}.txt"))
    t0 = time.perf_counter()
    wait_caught_up(settings, timeout=900)
    summary["consumers_seconds_to_lag0"] = round(time.perf_counter() - t0, 2)
    for spy in spies:
        stop_recording(spy)
    for name in ("producer-order", *CONSUMERS):
        summary[name] = summarise(out / f"{name}.txt")
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
