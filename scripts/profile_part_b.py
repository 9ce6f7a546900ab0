"""Profile Part B's inventory and notification consumers with py-spy while each drains a backlog.

Needs Part B's native stack running (`make up PART=async-rabbitmq`, admin API on) and py-spy in the venv
(`.venv/bin/pip install py-spy`). For each consumer: stop it, queue n messages (the benchmark's own
`inventory_drain` way for orders; a drain of the inventory consumer for the events), start it, record it with
`py-spy record --format raw` until its backlog is gone, then print the top functions (self and inclusive share
of the samples, per thread). Raw profiles go to OUT (default .run/profile; not committed).

    .venv/bin/python scripts/profile_part_b.py [n] [out]
"""
from __future__ import annotations

import collections
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from async_rabbitmq.lab.bench import ORDER, _bodies, raw_publish
from async_rabbitmq.lab.client import Client
from async_rabbitmq.messaging import topology
from common.menu import ITEMS
from common.settings import get_settings
from labkit.stack import NativeStack, wait_for


def record(pid: int, out: Path, *options: str) -> subprocess.Popen:
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    proc = subprocess.Popen([pyspy, "record", "--pid", str(pid), "--rate", "250", "--threads", "--format", "raw",
                             "--output", str(out), "--nonblocking", *options], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # py-spy attaches
    return proc


def stop_recording(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    proc.wait(30)


def summarise(raw: Path, top: int = 25) -> dict:
    """Collapsed stacks -> per thread: samples; per function: self and inclusive share of that thread's samples."""
    threads: dict[str, dict] = {}
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        thread, frames = frames[0], frames[1:]
        t = threads.setdefault(thread, {"samples": 0, "self": collections.Counter(), "incl": collections.Counter()})
        n = int(count)
        t["samples"] += n
        if frames:
            t["self"][frames[-1]] += n
        for f in set(frames):
            t["incl"][f] += n
    total = sum(t["samples"] for t in threads.values())
    out = {}
    for name, t in sorted(threads.items(), key=lambda kv: -kv[1]["samples"]):
        s = t["samples"]
        out[name] = {"samples": s, "share_of_process": round(s / total, 3),
                     "self": [(f, round(c / s, 3)) for f, c in t["self"].most_common(top)],
                     "inclusive": [(f, round(c / s, 3)) for f, c in t["incl"].most_common(top * 2)]}
    return out


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    out = Path(sys.argv[2] if len(sys.argv) > 2 else ".run/profile")
    out.mkdir(parents=True, exist_ok=True)
    settings = get_settings()
    stack = NativeStack("async-rabbitmq", settings, admin=True)
    lab = Client(settings)
    lab.wait_idle()
    lab.reset_stock({item: 10_000_000 for item in ITEMS})
    summary = {"n": n, "order": ORDER}

    # inventory: n OrderPlaced queued while it is stopped, recorded from its start until all are reserved
    before = sum(lab.reservations()["counts"].values())
    stack.stop("inventory-service")
    stack.stop("notification-service")  # keeps the inventory's n results for the second profile
    raw_publish(settings, _bodies(n), topology.ORDERS_EXCHANGE, topology.ORDER_PLACED_KEY, window=1000)
    stack.start("inventory-service")
    spy = record(stack.pid("inventory-service"), out / "inventory.txt")
    t0 = time.perf_counter()
    wait_for(lambda: sum(lab.reservations()["counts"].values()) - before >= n, 300, interval=0.2,
             what="the inventory drain")
    summary["inventory_seconds"] = round(time.perf_counter() - t0, 2)
    stop_recording(spy)
    lab.wait_idle(topology.INVENTORY_ORDERS, timeout=120)

    # notification: the n inventory events waiting in its queue, recorded until the queue is empty
    stack.start("notification-service")
    spy = record(stack.pid("notification-service"), out / "notification.txt")
    t0 = time.perf_counter()
    lab.wait_idle(topology.NOTIFICATIONS_QUEUE, timeout=300)
    summary["notification_seconds"] = round(time.perf_counter() - t0, 2)
    stop_recording(spy)
    lab.wait_idle(timeout=120)
    lab.reset_stock()

    for name in ("inventory", "notification"):
        summary[name] = summarise(out / f"{name}.txt")
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
