"""A gunicorn-served service with two workers, as the native runtime starts it: one scrape gives the whole
service's counts, whichever worker answers, and they survive a worker's death (gunicorn starts a new one)."""
import os
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest
import requests

from common.settings import ROOT
from labkit.stack import wait_healthy
from labkit.testing import PROMETHEUS_ACCEPT, Scrape

pytestmark = pytest.mark.integration
M = 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(url: str) -> Scrape:
    r = requests.get(f"{url}/metrics", headers={"Accept": PROMETHEUS_ACCEPT}, timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain"), r.text[:200]
    return Scrape(r.text)


def workers_of(pid: int) -> list[int]:
    return sorted(p.pid for p in psutil.Process(pid).children())


def test_one_scrape_counts_every_worker_even_a_dead_one(tmp_path):
    port = free_port()
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_1.db").write_bytes(b"a previous run's file")  # wiped at start
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "DATA_DIR": str(tmp_path / "data"),
           "LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "python:common.gunicorn_conf", "--bind", f"127.0.0.1:{port}",
         "--workers", "2", "--threads", "4", "common.process:wsgi('sync_rest.notification_service.app')"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, 60)
        with requests.Session() as one, requests.Session() as other:  # two connections, maybe two workers
            for i in range(M):
                assert (one if i % 2 else other).get(f"{url}/no-such/ORD-1-{i:08x}", timeout=5).status_code == 404
        for _ in range(4):  # any worker answers a scrape, each gives the service's total
            assert scrape(url).value("http_requests_total", route="<unmatched>", status="404") == M
        for pid in workers_of(proc.pid):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            alive = [p for p in workers_of(proc.pid) if psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
            if len(alive) == 2:
                break
            time.sleep(0.2)
        wait_healthy(url, 60)
        after = scrape(url)
        assert after.value("http_requests_total", route="<unmatched>", status="404") == M  # the dead workers' counts
        assert not any("ORD-" in v for v in after.label_values())
        assert not (metrics_dir / "counter_1.db").exists()
    finally:
        proc.terminate()
        proc.wait(15)
