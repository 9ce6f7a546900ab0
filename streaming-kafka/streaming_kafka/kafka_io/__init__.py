"""Part C's one Kafka client seam: every Kafka client of the project is made here, never at import time.

Four clients, one small interface, two implementations chosen by the `kafka_client` setting (`KAFKA_CLIENT`):
kafka-python-ng (`kafka_python.py`, the default) and confluent-kafka on librdkafka (`confluent.py`).
- `make_producer`: `send(topic, value, key=, partition=, headers=)` returns a future whose `get(timeout)` waits
  for the broker's `acks=all`; `flush()`, `close()`.
- `new_batch(producer, topic)`: many sends to one topic awaited together (`send_all`, `sent`, `acked()`,
  `wait(timeout)`): confluent-kafka counts their delivery reports with one callback, no future per record.
- `make_consumer`: a group consumer, `subscribe(topics, on_assign=, on_revoke=)` (`on_assign` may return a start
  offset per partition, else the group's committed offset is where it resumes), `poll(timeout_ms, max_records)`
  -> `{TopicPartition: [Record]}`, `poll_values` (the same, as `{TopicPartition: Values}`: values and offsets
  only, for a caller that folds the log), synchronous `commit({tp: next offset})`, `seek`, `close()` (leaves the group).
  A commit whose coordinator stays away past COMMIT_TIMEOUT_S, or a group left unjoined for GROUP_STALL_S, raises
  KafkaTimeoutError; `client_broken` says when the caller must replace the consumer with a new one.
- `make_reader`: the same consumer used by assignment only: `assign`, `seek`, `seek_to_beginning`, `position`,
  `end_offsets`, `partitions_for_topic`, `pause`, `poll`, `poll_values`; with a group it starts from the group's offsets.
- `make_admin`: topics (list, create, delete, describe), broker ids, a group's committed offsets and members.
Nothing outside this package imports `kafka` or `confluent_kafka` (a unit test keeps it so).
"""
from __future__ import annotations

from streaming_kafka.kafka_io.base import (  # noqa: F401 - the seam's names
    BEGINNING,
    COMMIT_TIMEOUT_S,
    GROUP_STALL_S,
    CommitFailedError,
    Committed,
    FutureBatch,
    KafkaError,
    KafkaTimeoutError,
    NoBrokersAvailable,
    PartitionInfo,
    Record,
    TopicAlreadyExistsError,
    TopicPartition,
    TopicSpec,
    Values,
    client_broken,
    wait_sent,
)

CLIENTS = ("kafka-python-ng", "confluent")


def implementation(settings):
    """The module of the client the settings choose (imported on first use, so neither is loaded for nothing)."""
    if settings.kafka_client == "confluent":
        from streaming_kafka.kafka_io import confluent
        return confluent
    from streaming_kafka.kafka_io import kafka_python
    return kafka_python


def make_producer(settings, bulk: bool = True, **overrides):
    """`bulk`: linger and large batches (for `/bulk` and the consumers' results); else each send goes at once.
    `overrides` use kafka-python-ng's option names (`linger_ms`, `batch_size`, ...), translated for librdkafka."""
    return implementation(settings).make_producer(settings, bulk, **overrides)


def new_batch(producer, topic: str):
    """A batch of sends to `topic` on `producer`: the producer's own (`batch`), else one future per record."""
    make = getattr(producer, "batch", None)
    return make(topic) if make is not None else FutureBatch(producer, topic)


def make_consumer(settings, group: str | None, **overrides):
    """A consumer in `group` (manual commits only); `subscribe` it, or use it as a reader with `assign`."""
    return implementation(settings).make_consumer(settings, group, **overrides)


def make_reader(settings, group: str | None = None, client_id: str | None = None, **overrides):
    """An assign-only consumer; without a group it commits nothing and starts where it seeks."""
    if client_id:
        overrides["client_id"] = client_id
    return implementation(settings).make_consumer(settings, group, **overrides)


def make_admin(settings, request_timeout_ms: int = 10_000):
    return implementation(settings).Admin(settings, request_timeout_ms=request_timeout_ms)


def producer_config(settings, bulk: bool = True) -> dict:
    """The chosen client's producer configuration (its own option names), for the record and the benchmark."""
    return implementation(settings).producer_config(settings, bulk)
