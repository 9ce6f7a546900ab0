"""`/bulk`'s fast path: events from a template (byte for byte the events' own encoding) and the seam's batch of
sends (confluent-kafka: one callback counts the delivery reports), with a fake librdkafka producer, so the counts
of a BulkIncomplete stay exact without a future per record."""
import json
import math
import uuid
from collections import Counter

import pytest

from common.menu import ITEMS
from common.settings import Settings
from streaming_kafka import kafka_io
from streaming_kafka.events import BulkRequest, epoch_ms, order_placed_bytes
from streaming_kafka.kafka_io import confluent
from streaming_kafka.producer_order.publisher import BulkIncomplete, OrderPublisher, generate_events

pytestmark = pytest.mark.unit


class FakeLibrdkafka:
    """librdkafka's producer as the seam drives it: `produce` queues a delivery report, `poll` serves the queued
    ones. Records after the `fail_after`-th fail (message timed out); `refuse_at` makes that produce call raise;
    `full` produce calls raise BufferError first (a full local queue); `silent`: no report ever comes."""

    def __init__(self, fail_after: int | None = None, refuse_at: int | None = None, full: int = 0,
                 silent: bool = False):
        self.fail_after, self.refuse_at, self.full, self.silent = fail_after, refuse_at, full, silent
        self.produced: list[tuple] = []
        self.reports: list = []

    def produce(self, topic, value=None, key=None, partition=-1, on_delivery=None):
        if self.full:
            self.full -= 1
            raise BufferError("queue full")
        if self.refuse_at is not None and len(self.produced) + 1 == self.refuse_at:
            raise confluent.KafkaException(confluent._Err(confluent._Err._UNKNOWN_TOPIC))
        self.produced.append((topic, key, value, partition))
        failed = self.fail_after is not None and len(self.produced) > self.fail_after
        err = confluent._Err(confluent._Err._MSG_TIMED_OUT) if failed else None
        if not self.silent:
            self.reports.append((on_delivery, err))

    def poll(self, timeout=0):
        reports, self.reports = self.reports, []
        for callback, err in reports:
            callback(err, None)
        return len(reports)

    def flush(self, timeout=-1):
        self.poll()
        return 0


def producer(lib: FakeLibrdkafka) -> confluent.Producer:
    p = confluent.Producer.__new__(confluent.Producer)  # no librdkafka client: the fake stands in for it
    p._p, p.max_block_s, p._sends = lib, 1.0, 0
    return p


def test_template_events_are_the_events_own_encoding_byte_for_byte():
    import random
    keys, values, flagged = generate_events(2500, random.Random(7), 0.3, json.dumps("s-1"))
    assert len(keys) == len(values) == 2500 and 0 < flagged < 2500
    ids = set()
    for key, value in zip(keys, values, strict=True):
        e = json.loads(value)
        assert value == order_placed_bytes(e["order_id"], e["event_id"], '"s-1"', e["item"], e["quantity"],
                                           e["timestamp"], e["force_fail"])
        assert key == e["order_id"].encode()
        # a UUIDv7 (time-ordered, as common.ids.generate_event_id) of the event's own time
        assert uuid.UUID(e["event_id"]).version == 7 and uuid.UUID(e["event_id"]).variant == uuid.RFC_4122
        assert int(e["event_id"][:12], 16) == epoch_ms(e["timestamp"])
        ids.add(e["event_id"])
    assert len(ids) == 2500 and sum(json.loads(v)["force_fail"] for v in values) == flagged


@pytest.mark.parametrize("fail_rate", [0.0, 0.25, 1.0])
def test_generated_events_draw_items_quantities_and_flags_uniformly_and_independently(fail_rate):
    import random
    n = 1234 * 12  # blocks and joined texts of every length, the last ones partial
    _, values, flagged = generate_events(n, random.Random(11), fail_rate, json.dumps("s-1"))
    events = [json.loads(v) for v in values]
    assert len(events) == n and sum(e["force_fail"] for e in events) == flagged
    combos = Counter((e["force_fail"], e["item"], e["quantity"]) for e in events)
    # each (flag, item, quantity) with its share of the draws; 5 standard deviations of a binomial count apart at most
    for flag, share in ((False, 1 - fail_rate), (True, fail_rate)):
        for item in ITEMS:
            for quantity in (1, 2, 3):
                p = share / (len(ITEMS) * 3)
                assert abs(combos[(flag, item, quantity)] - n * p) <= 5 * math.sqrt(n * p * (1 - p)) + 1e-9
    assert set(combos) <= {(f, i, q) for f in (False, True) for i in ITEMS for q in (1, 2, 3)}


def test_a_confluent_batch_counts_acks_with_one_callback_and_raises_the_first_failure():
    lib = FakeLibrdkafka(fail_after=3)
    batch = kafka_io.new_batch(producer(lib), "OrderEvents")
    assert isinstance(batch, confluent.Batch)
    batch.send_all([(b"k%d" % i, b"v") for i in range(5)], partition=2)
    assert batch.sent == 5 and {p for *_, p in lib.produced} == {2}
    with pytest.raises(kafka_io.KafkaTimeoutError):
        batch.wait(5)
    assert (batch.acked(), batch.failed) == (3, 2)


def test_a_confluent_batch_waits_out_a_full_queue_and_sends_everything():
    lib = FakeLibrdkafka(full=2)
    batch = kafka_io.new_batch(producer(lib), "OrderEvents")
    batch.send_all([(b"k%d" % i, b"v") for i in range(4)])
    batch.wait(5)
    assert batch.sent == batch.acked() == 4 and [k for _, k, _, _ in lib.produced] == [b"k0", b"k1", b"k2", b"k3"]


def test_a_refused_send_leaves_the_batch_counting_what_the_producer_took():
    batch = kafka_io.new_batch(producer(FakeLibrdkafka(refuse_at=3)), "OrderEvents")
    with pytest.raises(kafka_io.KafkaError):
        batch.send_all([(b"k%d" % i, b"v") for i in range(5)])
    assert batch.sent == 2


def test_a_batch_without_reports_times_out():
    batch = kafka_io.new_batch(producer(FakeLibrdkafka(silent=True)), "OrderEvents")
    batch.send_all([(b"k", b"v")])
    with pytest.raises(kafka_io.KafkaTimeoutError):
        batch.wait(0.2)
    assert batch.acked() == 0


def test_a_bulk_cut_short_on_the_confluent_batch_path_counts_exactly():
    """Chunks of 10, each awaited while the next is sent; records after the 25th fail: the wait on the third
    chunk fails with 40 handed over; 25 acknowledged, 15 unconfirmed, 60 never sent (as the generic path)."""
    lib = FakeLibrdkafka(fail_after=25)
    pub = OrderPublisher(Settings(bulk_chunk=10), factory=lambda bulk: producer(lib))
    with pytest.raises(BulkIncomplete) as info:
        pub.publish_bulk(BulkRequest(count=100, fail_rate=0.1))
    exc = info.value
    assert (exc.requested, exc.confirmed, exc.unconfirmed, exc.not_sent) == (100, 25, 15, 60)
    assert len(lib.produced) == 40


def test_a_whole_bulk_on_the_confluent_batch_path_publishes_every_event_once():
    lib = FakeLibrdkafka()
    res = OrderPublisher(Settings(bulk_chunk=7), factory=lambda bulk: producer(lib)).publish_bulk(
        BulkRequest(count=50, fail_rate=0.5, seed=3))
    assert res["published"] == 50 == len(lib.produced) == len({v for _, _, v, _ in lib.produced})
    assert res["first_order_id"].encode() == lib.produced[0][1] and res["last_order_id"].encode() == lib.produced[-1][1]
