"""The comparison report and the benchmark helpers on synthetic inputs (no stacks): every measured row is
rendered from the data, and the plots are written."""
import os
import subprocess
import sys

import pytest

from common.benchkit import PeakMemory, ratio
from comparison import report

pytestmark = pytest.mark.unit


def fake(part, label, accepted, lost, backlog, replayable):
    samples = [{"t": t / 2, "backlog": backlog(t), "lag": {"inventory-group": backlog(t) or 0,
                                                            "analytics-group": 0}} for t in range(80)]
    return {"part": part, "label": label, "delay_ms": 2000, "outage_s": 30,
            "normal": {"client_ms": [5.0, 6.0, 7.0], "final_ms": [6.0, 8.0, 9.0], "outcomes": {"confirmed": 3}},
            "slow": {"client_ms": [2005.0, 2010.0], "final_ms": [2006.0, 2011.0], "outcomes": {"confirmed": 2}},
            "outage": {"down_at_s": 0.1, "up_at_s": 30.2, "settled_at_s": 31.0, "orders": 150, "rate_per_s": 5,
                       "accepted": accepted, "rejected_at_once": 150 - accepted, "confirmed": accepted - lost,
                       "failed": 150 - accepted, "lost": lost, "samples": samples, "client_ms": [1.0],
                       "client_statuses": {}, "placed_at": []},
            "replay": {"possible": replayable, "events_available": 200 if replayable else 0, "seconds": 0.5,
                       "equal_to_live": True, "orders_sent": 200}}


def test_report_renders_measured_rows_and_plots(tmp_path):
    (tmp_path / "sync-rest").mkdir()
    results = {"sync-rest": fake("sync-rest", "Sync REST", 0, 0, lambda t: None, False),
               "async-rabbitmq": fake("async-rabbitmq", "Async RabbitMQ", 150, 0, lambda t: min(t, 60) * 2, False),
               "streaming-kafka": fake("streaming-kafka", "Streaming Kafka", 150, 0, lambda t: min(t, 60), True)}
    files = report.write(results, tmp_path, {"sync-rest": 100.0})
    md = (tmp_path / "docs" / "comparison.md").read_text()
    assert "| Coupling: orders accepted while inventory is down | 0 of 150 | 150 of 150 | 150 of 150 |" in md
    assert "yes: 200 events re-read" in md and "no: 0 events left to re-read" in md
    assert "p50 6.0 / p99 7.0" in md  # client latency, normal
    for f in files:
        assert f.exists() and f.stat().st_size > 0
    assert (tmp_path / "docs" / "img" / "latency.png").read_bytes()[:4] == b"\x89PNG"


def test_ratio():
    assert ratio(50, 100) == 0.5 and ratio(1, 0) != ratio(1, 0)  # nan for a zero baseline


def test_peak_memory_follows_a_process_tree():
    child = subprocess.Popen([sys.executable, "-c", "x = bytearray(60 * 2**20); import time; time.sleep(3)"])
    try:
        with PeakMemory(os.getpid(), interval=0.05) as mem:
            import time
            time.sleep(1.5)
        assert mem.peak_mib > 60
    finally:
        child.kill()
        child.wait()
