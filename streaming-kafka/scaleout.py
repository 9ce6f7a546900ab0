"""More inventory consumers in `inventory-group`, outside supervisord: started by the scale-out scenario,
stopped with the `inventory-consumer` service (its cleanup) or by `make down`.

Each extra instance is the same program with its own HTTP port and the same SQLite stock, so stock stays
exact whichever instance owns a partition.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil

from common.settings import ROOT

PART = "streaming-kafka"


def _dir(settings) -> Path:
    d = settings.part_dir(PART) / "extra"
    d.mkdir(parents=True, exist_ok=True)
    return d


def start_extra_instance(settings, index: int, port: int, env: dict | None = None) -> int:
    """Start `inventory-consumer-<index>` on `port`; returns its pid (its log is next to the others)."""
    name = f"inventory-consumer-{index}"
    logs = settings.part_dir(PART) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    full_env = {k: v for k, v in os.environ.items() if k not in ("INVENTORY_DELAY_MS", "FORCE_FAILURE")}
    full_env |= {"PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / PART)]), "PART": PART,
                 "SERVICE_NAME": name, "DATA_DIR": str(settings.part_dir(PART) / "data"),
                 "RUN_DIR": str(settings.run_dir), "PYTHONUNBUFFERED": "1", "INVENTORY_PORT": str(port),
                 "KAFKA_BOOTSTRAP": settings.kafka_bootstrap, **(env or {})}
    with open(logs / f"{name}.log", "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "inventory_consumer"], cwd=ROOT, env=full_env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    (_dir(settings) / f"{name}.json").write_text(json.dumps({"pid": proc.pid, "port": port,
                                                            "create_time": psutil.Process(proc.pid).create_time()}))
    return proc.pid


def stop_extra_instances(settings, sig: int = signal.SIGTERM, timeout_s: float = 30) -> list[int]:
    """Stop every recorded extra instance (SIGTERM: leave the group cleanly; SIGKILL after `timeout_s`)."""
    stopped = []
    for spec in sorted(_dir(settings).glob("*.json")):
        info = json.loads(spec.read_text())
        try:
            proc = psutil.Process(info["pid"])
            if abs(proc.create_time() - info["create_time"]) < 1:  # the pid was not reused by something else
                proc.send_signal(sig)
                try:
                    proc.wait(timeout_s)
                except psutil.TimeoutExpired:
                    proc.kill()
                stopped.append(info["pid"])
        except psutil.NoSuchProcess:
            pass
        spec.unlink(missing_ok=True)
    return stopped
