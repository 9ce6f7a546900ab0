"""`make redrive PART=streaming-kafka` against the real broker: a dead-lettered order comes back once, poison
is kept, and a second run re-publishes nothing (its group's offsets are committed)."""
import os
import subprocess
from types import SimpleNamespace

import pytest

from common.ids import generate_event_id, generate_order_id
from common.settings import ROOT
from common.stack import wait_for
from streaming_kafka.events import encode, now_ms, order_placed
from streaming_kafka.inventory_consumer.redrive import redrive
from streaming_kafka.inventory_consumer.worker import dead_letter_headers
from streaming_kafka.kafka_io import TopicPartition, make_producer, make_reader
from streaming_kafka.scenarios import Client, wait_caught_up
from streaming_kafka.topology import DLQ_TOPIC, ORDER_TOPIC

pytestmark = pytest.mark.integration


def make_redrive() -> str:
    out = subprocess.run(["make", "--no-print-directory", "redrive", "PART=streaming-kafka"], cwd=ROOT,
                         env=os.environ, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def end_offsets(settings, topic: str) -> dict:
    c = make_reader(settings)
    try:
        tps = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic)]
        return {tp.partition: off for tp, off in c.end_offsets(tps).items()}
    finally:
        c.close()


def test_redrive_brings_a_dead_lettered_order_back_exactly_once(native_stack, settings):
    client = Client(settings)
    redrive(settings)  # whatever earlier tests left: the redrive group starts after it
    order_id = generate_order_id()
    good = encode(order_placed(order_id, generate_event_id(), "s-redrive", "coffee", 3, now_ms()))
    source = SimpleNamespace(topic=ORDER_TOPIC, partition=0, offset=0)
    p = make_producer(settings, bulk=False)
    # What the worker writes once the retry budget is spent, and a poison record beside it.
    p.send(DLQ_TOPIC, key=order_id.encode(), value=good,
           headers=dead_letter_headers(source, "retries_exhausted", "OperationalError: database is locked")).get(10)
    p.send(DLQ_TOPIC, key=b"poison", value=b"not json",
           headers=dead_letter_headers(source, "invalid_json", "the record value is not JSON")).get(10)
    p.close()
    wait_caught_up(settings)
    stock = client.stock()["coffee"]
    assert client.order_status(order_id) is None

    first = make_redrive()
    assert "looked at 2, re-drove 1 to OrderEvents; kept (not retryable): 1 invalid_json" in first
    wait_for(lambda: (s := client.order_status(order_id)) and s["status"] == "confirmed", 60,
             what="the redriven order confirmed")
    wait_caught_up(settings)
    assert client.stock()["coffee"] == stock - 3
    offsets = end_offsets(settings, ORDER_TOPIC)

    second = make_redrive()
    assert "looked at 0, re-drove 0 to OrderEvents" in second
    assert end_offsets(settings, ORDER_TOPIC) == offsets  # nothing re-published
    assert client.stock()["coffee"] == stock - 3
