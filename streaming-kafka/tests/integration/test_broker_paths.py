"""Against the natively started stack: poison to the DLQ, analytics' file on shutdown and rebuild after a restart,
`make replay`'s script, and the broker's clean stop/start with its data kept."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from common.settings import ROOT
from labkit.stack import wait_for
from streaming_kafka.kafka_io import TopicPartition, make_producer, make_reader
from streaming_kafka.lab.client import Client
from streaming_kafka.lab.scenarios import wait_caught_up
from streaming_kafka.topology import DLQ_TOPIC, ORDER_TOPIC

pytestmark = pytest.mark.integration


def dlq_records(settings) -> list:
    c = make_reader(settings)
    tp = TopicPartition(DLQ_TOPIC, 0)
    c.assign([tp])
    c.seek_to_beginning(tp)
    end = c.end_offsets([tp])[tp]
    out = []
    while c.position(tp) < end:
        for recs in c.poll(timeout_ms=1000).values():
            out += recs
    c.close()
    return out


def test_poison_goes_to_dlq_with_reason_and_consumer_keeps_going(native_stack, settings):
    before = len(dlq_records(settings))
    p = make_producer(settings, bulk=False)
    poison = [b"not json", json.dumps({"event_type": "OrderPlaced", "order_id": "ORD-x"}).encode(),
              json.dumps({"event_type": "OrderPlaced", "event_id": "e" * 32, "order_id": "ORD-1-deadbeef",
                          "item": "caviar", "quantity": 1, "timestamp": "2026-11-25T07:00:00.000Z"}).encode()]
    for value in poison:
        p.send(ORDER_TOPIC, key=b"poison", value=value).get(10)
    p.close()
    order = Client(settings).order("soda", 1)  # a good order after the poison, same consumer
    wait_for(lambda: (s := Client(settings).order_status(order["order_id"])) and s["status"] != "pending", 60,
             what="the good order's result")
    dead = dlq_records(settings)[before:]
    assert [r.value for r in dead] == poison
    reasons = [dict(r.headers)["dlq_reason"].decode() for r in dead]
    assert reasons == ["invalid_json", "validation_error", "unknown_item"]
    assert all(dict(r.headers)["source_topic"] == ORDER_TOPIC.encode() for r in dead)


def test_analytics_writes_on_shutdown_and_rebuilds_after_restart(native_stack, settings):
    client = Client(settings)
    client.bulk(2000, 0.1)
    wait_caught_up(settings)
    live = client.metrics_text()
    native_stack.stop("analytics-consumer")
    written = Path(os.environ.get("METRICS_DIR", settings.metrics_dir)) / "metrics_output.json"
    assert written.read_text() == live
    native_stack.start("analytics-consumer")
    wait_caught_up(settings)
    wait_for(lambda: client.metrics_text() == live, 60, what="the rebuilt state equal to the one before")


def test_make_replay_script_writes_its_file_and_exits_0(native_stack, settings, tmp_path):
    client = Client(settings)
    client.bulk(200, 0.1)
    wait_caught_up(settings)
    live = client.metrics()["total_orders_seen"]  # the live fold of the whole log, which the replay re-reads
    env = dict(os.environ, METRICS_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-m", "streaming_kafka.analytics_consumer.replay"], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "analytics-group-replay-" in out.stdout
    # ">= 0" held for an empty or wrong file: the replay must count what the live analytics counted
    assert json.loads((tmp_path / "replay_output.json").read_text())["total_orders_seen"] == live >= 200


def test_broker_stop_start_keeps_the_log(native_stack, settings):
    wait_caught_up(settings)
    before = Client(settings).metrics()["total_orders_seen"]
    native_stack.stop("kafka")
    t0 = time.monotonic()
    native_stack.start("kafka")
    assert time.monotonic() - t0 < 60
    order = wait_for(lambda: _try_order(settings), 60, what="an order accepted after the broker restart")
    wait_for(lambda: (s := Client(settings).order_status(order["order_id"])) and s["status"] != "pending", 120,
             what="the order's result after the broker restart")
    assert Client(settings).metrics()["total_orders_seen"] == before + 1


def _try_order(settings):
    try:
        return Client(settings).order("coffee", 1)
    except requests.RequestException:
        return None
