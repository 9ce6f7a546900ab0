"""The comparison report and the benchmark helpers on synthetic inputs (no stacks): every measured row is
rendered from the data, and the plots are written."""
import os
import subprocess
import sys

import pytest

from comparison import report
from labkit.benchkit import PeakMemory, ratio

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


def test_benchmark_tables_pair_every_figure_with_its_baseline_and_ratio(bench_script):
    bench = bench_script
    summary = {"median": 4.0, "p99": 8.0}
    results = {
        "sync-rest": {"latency_ms": {"order_chain": summary, "single_hop": {"median": 1.0, "p99": 2.0},
                                     "ratio_p50": 4.0, "ratio_p99": 4.0,
                                     "three_bare_hops": {"median": 3.2, "p99": 7.0},
                                     "ratio_p50_three_hops": 1.25, "ratio_p99_three_hops": 1.143},
                      "throughput": [{"clients": 8, "orders_per_s": 300.0, "single_hop_per_s": 1000.0, "ratio": 0.3}]},
        "async-rabbitmq": {"n": 10_000, "prefetch": 500, "consumer_batch": 250, "outbox_max_inflight": 1000,
                           "latency_202_ms": {"p50": 2.5, "p99": 6.0, "baseline_echo_p50": 1.0, "baseline_echo_p99": 1.5,
                                              "ratio_p50": 2.5},
                           "publish_rate": {"relay": 8000, "raw_pika": 10000, "ratio": 0.8},
                           "drain_rate": {"inventory": 5000, "raw_pika_ack_only": 40000, "ratio": 0.125,
                                          "raw_pika_publish_confirm_ack": 12500, "ratio_like_for_like": 0.4,
                                          "inventory_alone": 6000, "ratio_alone_like_for_like": 0.48}},
        "streaming-kafka": {"bulk": {"events_per_s": 29000, "raw_producer_events_per_s": 33000, "ratio": 0.879,
                                     "raw_producer_library_defaults_events_per_s": 15000},
                            "end_to_end": {"events": 100_000, "seconds_to_lag0_both_groups": 12.0,
                                           "raw_produce_plus_consume_seconds": 4.0, "ratio": 3.0},
                            "replay": {"events": 1_000_000, "events_per_s": 100_000,
                                       "raw_consumer_events_per_s": 125_000, "ratio": 0.8},
                            "settings": {"compression": "gzip", "linger_ms": 20, "batch_bytes": 1 << 20,
                                         "partitions": 6}}}
    md = bench.markdown(results, {"sync-rest": 300.0}, "now", "abc123")
    assert "| orders/s, 8 concurrent clients | 300.0 | 1000.0 | 0.3 |" in md
    assert "| latency p50 (ms): order chain vs three bare hops | 4.0 | 3.2 | 1.25 | <= 1.5 |" in md
    assert "| 202 latency p99 (ms) vs a bare Flask echo | 6.0 | 1.5 | 4.0 |" in md  # ratio computed here
    assert "| 5000 | 12500 | 0.4 |" in md and "| 8000 | 10000 | 0.8 | >= 0.7 |" in md
    # Part B's drain aim is the like-for-like ratio of the consumer draining alone; the ack-only row an absolute rate
    assert "| 5000 | 40000 | 0.125 | >= 2,000/s |" in md and "| 6000 | 12500 | 0.48 | >= 0.7 |" in md
    block = bench.readme_block(results, {}, "now")
    assert "| B: drain, inventory consumer alone, orders/s | 6000 | the same raw consumer 12500 | 0.48 |" in block
    assert "| 12.0 | 4.0 | 3.0 |" in md and "| 100000 | 125000 | 0.8 | >= 0.8 |" in md
    assert "| sync-rest | 300.0 |" in md and "commit abc123" in md


def test_part_c_under_both_clients_gets_a_table_each_and_one_comparing_them(bench_script):
    bench = bench_script
    ng = _kafka(bulk=30000, raw=40000, e2e=12.0, replay=100_000, p50=2.0, p99=6.0, cpu=80.0)
    cf = _kafka(bulk=240000, raw=300000, e2e=6.0, replay=300_000, p50=1.5, p99=4.0, cpu=40.0)
    cf["settings"] = cf["settings"] | {"client": "confluent", "compression": "lz4"}
    cf["end_to_end"] = {"events": 50_000, "seconds_to_lag0_both_groups": 6.0, "raw_pipeline_seconds": 4.0,
                        "ratio": 1.5}
    md = bench.markdown({"streaming-kafka": ng, bench.CONFLUENT: cf},
                        {"streaming-kafka": 1000.0, bench.CONFLUENT: 800.0}, "now", "abc")
    assert "## Part C: streaming Kafka, kafka-python-ng" in md and "## Part C: streaming Kafka, confluent-kafka" in md
    assert "| `/bulk` (events/s) vs raw confluent-kafka producer, same tuning | 240000 | 300000 | 0.8 | >= 0.7, " \
           ">= 200,000/s |" in md
    assert "vs raw clients doing the same broker work (below) | 6.0 | 4.0 | 1.5 | <= 1.5, <= 3 s |" in md
    assert "| `/bulk` (events/s) | 30000 | 240000 | 8.0 |" in md  # confluent / kafka-python-ng, same run
    assert "| end to end to lag 0 in both groups (s) | 12.0 | 6.0 | 0.5 |" in md
    assert "| peak memory of the whole stack (MiB) | 1000.0 | 800.0 | 0.8 |" in md
    block = bench.readme_block({"streaming-kafka": ng, bench.CONFLUENT: cf}, {}, "now")
    assert "| C (confluent-kafka): `/bulk` events/s | 240000 | raw producer 300000 | 0.8 |" in block
    assert "| C (kafka-python-ng): replay events/s | 100000 | raw consumer 125000 | 0.8 |" in block


def test_cluster_rows_compare_with_the_single_node_of_the_same_run(bench_script):
    bench = bench_script
    one = {"latency_202_ms": {"p50": 2.0, "p99": 8.0}, "publish_rate": {"relay": 10000, "raw_pika": 20000},
           "drain_rate": {"inventory": 5000, "raw_pika_ack_only": 30000}, "stack_cpu_seconds": 100.0}
    three = {"latency_202_ms": {"p50": 2.0, "p99": 10.0}, "publish_rate": {"relay": 5000, "raw_pika": 8000},
             "drain_rate": {"inventory": 4000, "raw_pika_ack_only": 15000}, "stack_cpu_seconds": 250.0}
    lines = "\n".join(bench._cluster(one, three, {"async-rabbitmq": 500.0, bench.CLUSTER: 1200.0}))
    assert "| publish with confirms, outbox relay (msg/s) | 10000 | 5000 | 0.5 |" in lines
    assert "| drain, one inventory consumer (orders/s) | 5000 | 4000 | 0.8 |" in lines
    assert "| peak memory of the whole stack (MiB) | 500.0 | 1200.0 | 2.4 |" in lines
    assert "| CPU time of the whole stack during its benchmark (s) | 100.0 | 250.0 | 2.5 |" in lines


def _kafka(bulk, raw, e2e, replay, p50, p99, cpu, replayed=400_000):
    return {"latency_202_ms": {"p50": p50, "p99": p99, "baseline_echo_p50": 1.0, "baseline_echo_p99": 2.0,
                               "ratio_p50": p50, "ratio_p99": p99 / 2},
            "bulk": {"events_per_s": bulk, "raw_producer_events_per_s": raw, "ratio": 0.8,
                     "raw_producer_library_defaults_events_per_s": 15000},
            "end_to_end": {"events": 50_000, "seconds_to_lag0_both_groups": e2e,
                           "raw_produce_plus_consume_seconds": 4.0, "ratio": 3.0},
            "replay": {"events": replayed, "events_per_s": replay, "raw_consumer_events_per_s": 125_000, "ratio": 0.8},
            "settings": {"compression": "gzip", "linger_ms": 20, "batch_bytes": 1 << 20, "partitions": 6},
            "stack_cpu_seconds": cpu}


def test_kafka_cluster_rows_compare_with_the_single_broker_of_the_same_run(bench_script):
    bench = bench_script
    one = _kafka(bulk=30000, raw=40000, e2e=12.0, replay=100_000, p50=2.0, p99=6.0, cpu=80.0)
    three = _kafka(bulk=15000, raw=16000, e2e=30.0, replay=50_000, p50=3.0, p99=15.0, cpu=240.0, replayed=410_000)
    memory = {"streaming-kafka": 1000.0, bench.KAFKA_CLUSTER: 2500.0}
    lines = "\n".join(bench._cluster(one, three, memory, bench.KAFKA_CLUSTER))
    assert lines.startswith("## Part C: three-broker KRaft cluster vs one broker")
    assert "| `/bulk` (events/s) | 30000 | 15000 | 0.5 |" in lines
    assert "| end to end to lag 0 in both groups (s) | 12.0 | 30.0 | 2.5 |" in lines
    assert "| replay (events/s) | 100000 | 50000 | 0.5 |" in lines
    assert "| `POST /order` 202 latency p50 (ms) | 2.0 | 3.0 | 1.5 |" in lines
    assert "| `POST /order` 202 latency p99 (ms) | 6.0 | 15.0 | 2.5 |" in lines
    assert "| peak memory of the whole stack (MiB) | 1000.0 | 2500.0 | 2.5 |" in lines
    assert "| CPU time of the whole stack during its benchmark (s) | 80.0 | 240.0 | 3.0 |" in lines
    assert "measured 2,500.0 MiB for the cluster stack: under the limit" in lines
    assert "400,000 events on one broker, 410,000 on the cluster" in lines
    over = "\n".join(bench._cluster(one, three, memory | {bench.KAFKA_CLUSTER: 3200.0}, bench.KAFKA_CLUSTER))
    assert "3,200.0 MiB for the cluster stack: OVER the limit" in over


def test_markdown_adds_each_cluster_table_only_beside_its_single_node(bench_script):
    bench = bench_script
    one = _kafka(bulk=30000, raw=40000, e2e=12.0, replay=100_000, p50=2.0, p99=6.0, cpu=80.0)
    three = _kafka(bulk=15000, raw=16000, e2e=30.0, replay=50_000, p50=3.0, p99=15.0, cpu=240.0)
    alone = bench.markdown({bench.KAFKA_CLUSTER: three}, {}, "now", "abc")
    assert "KRaft cluster" not in alone
    md = bench.markdown({"streaming-kafka": one, bench.KAFKA_CLUSTER: three}, {}, "now", "abc")
    assert "## Part C: three-broker KRaft cluster vs one broker" in md and "Part B: three-node" not in md
    # Part C's own table now carries the 202 latency against the echo baseline
    assert "| 202 latency p99 (ms) vs a bare Flask echo | 6.0 | 2.0 | 3.0 |  |" in md


def test_bench_refuses_an_unknown_part(bench_script, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["comparison.bench", "streaming-kafka-clustre"])
    assert bench_script.main() == 2
    assert "streaming-kafka-cluster" in capsys.readouterr().err


def test_peak_memory_also_adds_up_cpu_time():
    with PeakMemory(os.getpid(), interval=0.05) as mem:
        sum(i * i for i in range(3_000_000))  # burn a little CPU in this (sampled) process
    assert mem.cpu_seconds > 0


def test_the_comparison_resets_stock_for_every_item_its_load_orders(tmp_path):
    """The reset replaces the whole stock; it used to list five items while the load cycles through the whole
    menu, so every sixth comparison order (fries) failed for want of stock."""
    from common.menu import ITEMS
    from common.settings import Settings
    from comparison.patterns import Pattern

    sent = []

    class Response:
        def __init__(self, stock):
            self.stock = stock

        def raise_for_status(self):
            pass

        def json(self):
            return self.stock

    class Http:
        def post(self, url, json=None, timeout=None):
            sent.append(json)
            return Response(json["stock"])

    class Offline(Pattern):
        http = Http()  # instead of the session per thread

    Offline(Settings(run_dir=tmp_path)).reset_stock()
    ordered = {ITEMS[i % len(ITEMS)] for i in range(len(ITEMS) * 2)}
    assert ordered <= set(sent[0]["stock"]) and min(sent[0]["stock"].values()) >= 10**6


def test_report_prose_and_labels_come_from_the_run(tmp_path):
    """comparison.md said `INVENTORY_DELAY_MS=2000` and "Sync REST passes inventory's 2 s straight to the client",
    and the outage plot "rejected with 503", whatever the run measured."""
    (tmp_path / "sync-rest").mkdir()
    results = {"sync-rest": fake("sync-rest", "Sync REST", 0, 0, lambda t: None, False),
               "async-rabbitmq": fake("async-rabbitmq", "Async RabbitMQ", 150, 0, lambda t: min(t, 60) * 2, False),
               "streaming-kafka": fake("streaming-kafka", "Streaming Kafka", 150, 0, lambda t: min(t, 60), True)}
    for r in results.values():
        r["delay_ms"] = 500
        r["slow"]["client_ms"] = [507.0, 508.0, 509.0]
    results["async-rabbitmq"]["slow"]["client_ms"] = [6.0, 8.0, 9.0]  # the 202 does not wait
    results["sync-rest"]["outage"]["client_statuses"] = {"503": 140, "504": 10}
    report.write(results, tmp_path)
    md = (tmp_path / "docs" / "comparison.md").read_text()
    assert "`INVENTORY_DELAY_MS=500`" in md and "2000" not in md and "2 s" not in md
    assert "Sync REST: the client's p50 +502.0 ms" in md and "Async RabbitMQ: the client's p50 +2.0 ms" in md
    assert report.rejected_statuses(results["sync-rest"]["outage"]) == "HTTP 503 x140, HTTP 504 x10"
    assert report.rejected_statuses(results["async-rabbitmq"]["outage"]) == "none"
