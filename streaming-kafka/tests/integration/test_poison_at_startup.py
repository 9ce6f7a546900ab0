"""Issue 10, defect 1 as it was seen black-box: six 60 KB `[[[[...]]]]` records in `OrderEvents` made the
inventory consumer die before committing, so it died again on every start until the broker was wiped. Now it
starts, dead-letters them (`too_deep`), commits, and confirms the good order produced after them."""
import pytest

from common.ids import generate_event_id, generate_order_id
from labkit.stack import wait_for
from streaming_kafka.events import OrderPlaced, now_ms
from streaming_kafka.kafka_io import TopicPartition, make_producer, make_reader
from streaming_kafka.lab.client import Client
from streaming_kafka.lab.scenarios import wait_caught_up
from streaming_kafka.topology import DLQ_TOPIC, ORDER_TOPIC

pytestmark = pytest.mark.integration
DEEP = b"[" * 30_000 + b"]" * 30_000


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


def test_deeply_nested_records_cannot_wedge_the_inventory_consumer_at_start_up(native_stack, settings):
    client = Client(settings)
    before = len(dlq_records(settings))
    native_stack.stop("inventory-consumer")
    order_id = generate_order_id()
    try:
        p = make_producer(settings, bulk=False)
        for _ in range(6):
            p.send(ORDER_TOPIC, key=b"deep", value=DEEP)
        p.send(ORDER_TOPIC, key=order_id.encode(),
               value=OrderPlaced.new(order_id=order_id, event_id=generate_event_id(), student_id="s",
                                     item="soda", quantity=1, ts_ms=now_ms()).to_bytes()).get(10)
        p.close()
    finally:
        native_stack.start("inventory-consumer")  # returns only when healthy: it used to exit here
    pid = native_stack.pid("inventory-consumer")
    wait_for(lambda: (s := client.order_status(order_id)) and s["status"] == "confirmed", 60,
             what="the good order behind the poison")
    wait_caught_up(settings)
    dead = dlq_records(settings)[before:]
    assert [dict(r.headers)["dlq_reason"] for r in dead if r.value == DEEP] == [b"too_deep"] * 6
    assert native_stack.pid("inventory-consumer") == pid
