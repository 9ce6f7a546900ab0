"""Benchmark helpers: load generators with progress bars, the echo baseline server, peak memory of a stack.

Figures are always reported with a baseline measured in the same run and the ratio between them.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import psutil
import requests
from tqdm import tqdm

from common.settings import ROOT, Settings
from labkit.runtime.control import Part
from labkit.stack import wait_healthy
from labkit.stats import summarize


def ratio(value: float, baseline: float) -> float:
    return round(value / baseline, 3) if baseline else float("nan")


def latencies(call: Callable[[requests.Session], None], n: int, label: str, warmup: int = 30) -> dict:
    """Sequential calls on one keep-alive session; returns the latency summary in ms."""
    session = requests.Session()
    for _ in range(warmup):
        call(session)
    samples = []
    for _ in tqdm(range(n), desc=label, unit="req", leave=False):
        t0 = time.perf_counter()
        call(session)
        samples.append((time.perf_counter() - t0) * 1000)
    return summarize(samples).as_dict()


def throughput(call: Callable[[requests.Session], None], clients: int, total: int, label: str) -> float:
    """`total` calls spread over `clients` threads (one session each); returns calls per second."""
    sessions = [requests.Session() for _ in range(clients)]
    bar = tqdm(total=total, desc=label, unit="req", leave=False)
    lock = threading.Lock()

    def worker(i: int) -> None:
        for _ in range(total // clients):
            call(sessions[i])
            with lock:
                bar.update()

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, range(clients)))
    elapsed = time.perf_counter() - t0
    bar.close()
    return round((total // clients) * clients / elapsed, 1)


@contextmanager
def echo_server(port: int, workers: int = 1, threads: int = 64, app: str = "labkit.echo_app:create_app()",
                env: dict[str, str] | None = None) -> Iterator[str]:
    """A minimal Flask app (`app`, the bare echo by default) under the same gunicorn settings as the services, on
    127.0.0.1:port."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "common" / "gunicorn_conf.py"),
         "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--threads", str(threads), app],
        cwd=ROOT, env=os.environ | (env or {}), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, 30)
        yield url
    finally:
        proc.terminate()
        proc.wait(15)


@contextmanager
def three_bare_hops(port: int) -> Iterator[str]:
    """client -> relay -> echo, then relay -> a second echo: the order chain's three HTTP hops with no service
    around them (`labkit.echo_app.relay_app`), each app under the same gunicorn settings. Yields the relay's
    `/relay` URL; the two echoes listen on port + 1 and port + 2."""
    with echo_server(port + 1) as first, echo_server(port + 2) as second, \
            echo_server(port, app="labkit.echo_app:relay_app()", env={"ECHO_DOWNSTREAM": f"{first},{second}"}) as relay:
        yield relay + "/relay"


class PeakMemory:
    """Samples the resident memory of a process tree (e.g. a part's supervisord and everything it started)."""

    def __init__(self, root_pid: int, interval: float = 0.25):
        self.root_pid = root_pid
        self.interval = interval
        self.peak_bytes = 0
        self._cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> int:
        try:
            root = psutil.Process(self.root_pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0
        total = 0
        for p in procs:
            try:
                total += p.memory_info().rss
                cpu = p.cpu_times()
                self._cpu[p.pid] = cpu.user + cpu.system  # cumulative: the last sample of each process counts
            except psutil.Error:
                pass
        return total

    @property
    def cpu_seconds(self) -> float:
        """CPU time used by the tree's processes while sampled (their whole lives, as of their last sample)."""
        return round(sum(self._cpu.values()), 1)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, self.sample())
            self._stop.wait(self.interval)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mib(self) -> float:
        return round(self.peak_bytes / 2**20, 1)


def accept_latency(url: str, body: dict, n: int, echo_port: int) -> dict:
    """`n` sequential POSTs of `body` to `url`, each of which must answer 202, against the same number to a bare
    Flask echo on `echo_port` (the same gunicorn settings): a service's accept latency with its same-run
    baseline, in ms."""
    def place(session: requests.Session) -> None:
        r = session.post(url, json=body, timeout=30)
        assert r.status_code == 202, r.text

    ours = latencies(place, n, "POST " + url.rsplit("/", 1)[-1])
    with echo_server(echo_port) as echo:
        base = latencies(lambda session: session.post(f"{echo}/echo", json=body, timeout=30), n, "echo")
    return {"n": n, "p50": ours["median"], "p99": ours["p99"], "mean": ours["mean"],
            "baseline_echo_p50": base["median"], "baseline_echo_p99": base["p99"],
            "ratio_p50": ratio(ours["median"], base["median"]), "ratio_p99": ratio(ours["p99"], base["p99"]),
            "overhead_p50_ms": round(ours["median"] - base["median"], 2)}


def run_part_measured(part: str, command: list[str], result_file: Path,
                      env: dict[str, str] | None = None) -> tuple[dict, float]:
    """Start `part` natively, run `command` (which writes `result_file` as JSON) while sampling the peak memory of
    the whole stack, stop the part. Returns (the JSON, peak MiB); CalledProcessError when the command fails.
    `env` (e.g. BROKERS=3) reaches the stack's services and the command. The JSON gains `stack_cpu_seconds`:
    the CPU time the whole stack used (brokers included)."""
    # The part is started natively here, so the measurement drives the native stack, never a compose stack that
    # happens to be running (auto-detection would pick it).
    full_env = os.environ | {"STACK_RUNTIME": "native"} | (env or {})
    stack = Part(part, Settings(**{k.lower(): v for k, v in env.items()}) if env else None)
    try:
        stack.up(env=full_env | {"ADMIN_API": "true"})  # the measurements reset stock (admin API)
        with PeakMemory(stack.supervisor_pid()) as mem:
            code = subprocess.call(command, cwd=ROOT, env=full_env)
    finally:
        stack.down()
    if code != 0:
        raise subprocess.CalledProcessError(code, command)
    return json.loads(result_file.read_text()) | {"stack_cpu_seconds": mem.cpu_seconds}, mem.peak_mib
