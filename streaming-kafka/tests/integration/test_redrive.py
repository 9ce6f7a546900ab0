"""`make redrive PART=streaming-kafka [ALL=1]` against the real broker: a dead-lettered order comes back once,
poison is kept (and reported again by the next run), `ALL=1` re-drives what was kept so that, once its cause is
fixed, it is processed; nothing is lost and nothing is re-driven twice."""
import os
import subprocess
from types import SimpleNamespace

import pytest

from common.ids import generate_event_id, generate_order_id
from common.settings import ROOT
from labkit.stack import wait_for
from streaming_kafka.events import OrderPlaced, now_ms
from streaming_kafka.inventory_consumer.worker import dead_letter_headers
from streaming_kafka.kafka_io import TopicPartition, make_producer, make_reader
from streaming_kafka.lab.client import Client
from streaming_kafka.lab.scenarios import wait_caught_up
from streaming_kafka.topology import DLQ_TOPIC, ORDER_TOPIC, REDRIVE_GROUP

pytestmark = pytest.mark.integration


def make_redrive(all_: bool = False) -> str:
    out = subprocess.run(["make", "--no-print-directory", "redrive", "PART=streaming-kafka", *(["ALL=1"] if all_ else [])],
                         cwd=ROOT, env=os.environ, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def end_offsets(settings, topic: str) -> dict:
    c = make_reader(settings)
    try:
        tps = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic)]
        return {tp.partition: off for tp, off in c.end_offsets(tps).items()}
    finally:
        c.close()


def start_redrive_group_at_the_end(settings) -> None:
    """Whatever earlier tests dead-lettered (they share the stack) is not this test's: the redrive group starts
    after it."""
    c = make_reader(settings, REDRIVE_GROUP)
    try:
        tps = [TopicPartition(DLQ_TOPIC, p) for p in c.partitions_for_topic(DLQ_TOPIC)]
        c.assign(tps)
        c.commit(c.end_offsets(tps))
    finally:
        c.close()


def confirmed(client, order_id) -> bool:
    s = client.order_status(order_id)
    return bool(s) and s["status"] == "confirmed"


def test_redrive_brings_back_the_retryable_once_and_all_the_kept_ones_with_all(native_stack, settings):
    client = Client(settings)
    wait_caught_up(settings)
    start_redrive_group_at_the_end(settings)
    retried, fixed = generate_order_id(), generate_order_id()
    source = SimpleNamespace(topic=ORDER_TOPIC, partition=0, offset=0)
    p = make_producer(settings, bulk=False)
    # What the worker writes once the retry budget is spent, a poison record, and an order it refused for a
    # cause fixed since (a valid order today: say, a consumer that refused it by mistake).
    p.send(DLQ_TOPIC, key=retried.encode(), headers=dead_letter_headers(source, "retries_exhausted", "database is locked"),
           value=OrderPlaced.new(order_id=retried, event_id=generate_event_id(), student_id="s-redrive",
                                 item="coffee", quantity=3, ts_ms=now_ms()).to_bytes()).get(10)
    p.send(DLQ_TOPIC, key=b"poison", value=b"not json",
           headers=dead_letter_headers(source, "invalid_json", "the record value is not JSON")).get(10)
    p.send(DLQ_TOPIC, key=fixed.encode(), headers=dead_letter_headers(source, "too_deep", "refused by a bug, fixed"),
           value=OrderPlaced.new(order_id=fixed, event_id=generate_event_id(), student_id="s-redrive",
                                 item="soda", quantity=2, ts_ms=now_ms()).to_bytes()).get(10)
    p.close()
    stock = client.stock()

    first = make_redrive()
    assert "looked at 3, re-drove 1 to OrderEvents; kept (not retryable): 1 invalid_json, 1 too_deep" in first
    wait_for(lambda: confirmed(client, retried), 60, what="the redriven order confirmed")
    wait_caught_up(settings)
    assert client.order_status(fixed) is None  # kept: not re-driven without ALL=1
    offsets = end_offsets(settings, ORDER_TOPIC)

    second = make_redrive()  # the kept ones are still there and said so; the re-driven one is not sent again
    assert "looked at 2, re-drove 0 to OrderEvents; kept (not retryable): 1 invalid_json, 1 too_deep" in second
    assert end_offsets(settings, ORDER_TOPIC) == offsets

    third = make_redrive(all_=True)  # after the fix: both kept records go back, the re-driven one does not
    assert "looked at 2, re-drove 2 to OrderEvents; kept (not retryable): none" in third
    assert sum(end_offsets(settings, ORDER_TOPIC).values()) == sum(offsets.values()) + 2
    wait_for(lambda: confirmed(client, fixed), 60, what="the fixed order, re-driven by ALL=1, confirmed")
    wait_caught_up(settings)
    after = client.stock()
    assert (after["coffee"], after["soda"]) == (stock["coffee"] - 3, stock["soda"] - 2)  # each order once

    # The poison is still poison: the inventory consumer dead-letters it again (not lost), and the next run
    # reports that copy, re-driving nothing.
    offsets = end_offsets(settings, ORDER_TOPIC)
    fourth = make_redrive()
    assert "looked at 1, re-drove 0 to OrderEvents; kept (not retryable): 1 invalid_json" in fourth
    assert end_offsets(settings, ORDER_TOPIC) == offsets
