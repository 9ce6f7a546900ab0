"""The seam's `poll_values`: the same records as `poll`, reduced to values and offsets per partition."""
from types import SimpleNamespace

import pytest

from streaming_kafka.kafka_io import TopicPartition, Values, confluent

pytestmark = pytest.mark.unit
ck = confluent.ck  # librdkafka's own message and error types, through the seam


def reader(batches):
    """A confluent-kafka reader whose librdkafka consumer hands out `batches` of messages, one per consume call."""
    consumer = confluent.Consumer.__new__(confluent.Consumer)  # no librdkafka client: only consume is used
    consumer.max_records, consumer._starts, consumer._pos = 500, None, {}
    consumer._c = SimpleNamespace(consume=lambda n, timeout: batches.pop(0) if batches else [])
    return consumer


def messages():
    """Runs of two partitions of one topic and one of another, interleaved, with an end-of-partition report."""
    out = [ck.Message(topic="OrderEvents", partition=p, offset=o, key=b"k", value=b"v%d-%d" % (p, o))
           for p, offsets in ((0, (3, 4)), (1, (7,)), (0, (5, 7))) for o in offsets]
    out.insert(3, ck.Message(topic="OrderEvents", partition=1, error=ck.KafkaError(ck.KafkaError._PARTITION_EOF)))
    out.append(ck.Message(topic="InventoryEvents", partition=0, offset=0, value=None))  # a tombstone
    return out


def test_confluent_poll_values_gives_polls_records_as_values_and_offsets():
    by_record = reader([messages()]).poll()
    consumer = reader([messages()])
    by_value = consumer.poll_values()
    assert by_value == {tp: Values([r.value for r in recs], [r.offset for r in recs])
                        for tp, recs in by_record.items()}
    assert by_value[TopicPartition("OrderEvents", 0)] == Values([b"v0-3", b"v0-4", b"v0-5", b"v0-7"], [3, 4, 5, 7])
    assert by_value[TopicPartition("InventoryEvents", 0)].values == [None]
    # the positions a reader reports are past each partition's last record
    assert consumer._pos == {TopicPartition("OrderEvents", 0): 8, TopicPartition("OrderEvents", 1): 8,
                             TopicPartition("InventoryEvents", 0): 1}
    assert by_value[TopicPartition("OrderEvents", 0)].next_offset == 8


def test_a_fatal_error_fails_the_poll():
    fatal = ck.KafkaError(ck.KafkaError._FATAL, fatal=True)
    consumer = reader([[ck.Message(topic="OrderEvents", partition=0, offset=1, value=b"x"),
                        ck.Message(topic="OrderEvents", partition=0, error=fatal)]])
    with pytest.raises(confluent.KafkaError):
        consumer.poll_values()
