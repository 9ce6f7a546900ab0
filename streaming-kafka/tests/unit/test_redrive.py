"""The redrive's bookkeeping without a broker: its committed offset never passes a kept record, and the commit's
metadata keeps what was re-driven from being re-driven again."""
from types import SimpleNamespace

import pytest

from streaming_kafka.inventory_consumer.redrive import redrive
from streaming_kafka.kafka_io import TopicPartition
from streaming_kafka.topology import DLQ_TOPIC, ORDER_TOPIC

pytestmark = pytest.mark.unit

TP = TopicPartition(DLQ_TOPIC, 0)


def record(offset: int, reason: str, source: str = ORDER_TOPIC):
    return SimpleNamespace(topic=DLQ_TOPIC, partition=0, offset=offset, key=f"k{offset}".encode(),
                           value=f"v{offset}".encode(),
                           headers=[("dlq_reason", reason.encode()), ("source_topic", source.encode())])


class FakeDLQConsumer:
    """The redrive group on a one-partition DLQ: a log, and a committed offset with its metadata that outlive
    each run (as the broker keeps them)."""

    def __init__(self, log: list):
        self.log = log
        self.committed_at = None  # kafka_io.Committed
        self.pos = 0

    def run(self):  # a fresh consumer of the same group, as each `make redrive` makes
        self.pos = self.committed_at.offset if self.committed_at else 0
        return self

    def partitions_for_topic(self, topic):
        return {0}

    def assign(self, tps):
        pass

    def end_offsets(self, tps):
        return {TP: len(self.log)}

    def last_commit(self, tp):
        return self.committed_at

    def position(self, tp):
        return self.pos

    def poll(self, timeout_ms=0):
        recs, self.pos = self.log[self.pos:self.pos + 2], min(len(self.log), self.pos + 2)  # two per poll
        return {TP: recs} if recs else {}

    def commit(self, offsets):
        self.committed_at = offsets[TP]

    def pause(self, tp):
        pass

    def close(self, autocommit=True):
        pass


def test_kept_records_hold_the_commit_back_and_all_re_drives_them_once(producer_class):
    log = [record(0, "retries_exhausted"), record(1, "invalid_json"), record(2, "handler_error"),
           record(3, "unknown_item"), record(4, "nothing_we_know", source="SomeOtherTopic"), record(5, "produce_error")]
    group = FakeDLQConsumer(log)

    def run(include_all=False):
        producer = producer_class()
        result = redrive(None, include_all, consumer=group.run(), producer=producer)
        return result, [value for _topic, _key, value, _headers in producer.sent]

    first, sent = run()
    assert sent == [b"v0", b"v2", b"v5"] and first.looked_at == 6
    assert dict(first.kept) == {"invalid_json": 1, "unknown_item": 1, "nothing_we_know": 1}
    assert group.committed_at.offset == 1  # the first kept record: still within reach of ALL=1

    second, sent = run()  # re-drives nothing again, and says what it keeps
    assert sent == [] and dict(second.kept) == {"invalid_json": 1, "unknown_item": 1}
    assert group.committed_at.offset == 1

    log.append(record(6, "retries_exhausted"))  # a new dead letter meanwhile
    third, sent = run(include_all=True)  # after the fix: the kept ones and the new one, nothing twice
    assert sent == [b"v1", b"v3", b"v6"] and dict(third.kept) == {}
    assert group.committed_at.offset == 7

    fourth, sent = run(include_all=True)
    assert sent == [] and fourth.looked_at == 0
