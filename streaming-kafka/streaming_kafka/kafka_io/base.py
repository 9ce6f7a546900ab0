"""What both Kafka clients share behind the seam: partitions, records, topic specs, the errors callers catch.

The error classes are kafka-python-ng's (a dependency either way): the kafka-python-ng implementation raises
them as they come, with no wrapper per send or poll, and the confluent-kafka one translates librdkafka's errors
into them, so a caller catches one set of names whichever client runs.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from kafka.errors import (  # noqa: F401 - re-exported: the seam's own names for the errors callers catch
    CommitFailedError,
    KafkaError,
    KafkaTimeoutError,
    NoBrokersAvailable,
    TopicAlreadyExistsError,
)

# How long a synchronous commit may wait for the group's coordinator before it raises KafkaTimeoutError.
COMMIT_TIMEOUT_S = 30.0
# How long a subscribed consumer may stay without a coordinator or unjoined before its poll raises KafkaTimeoutError
# (longer than a rebalance after a member's session timeout, so a normal rejoin never trips it).
GROUP_STALL_S = 60.0

# A start offset an `on_assign` callback may return: the partition's first record (librdkafka's OFFSET_BEGINNING).
BEGINNING = -2


class TopicPartition(NamedTuple):
    """Equal to (and hashed like) kafka-python-ng's TopicPartition, so either client's keys find each other."""
    topic: str
    partition: int


class Record(NamedTuple):
    """One consumed record; kafka-python-ng's ConsumerRecord has the same attributes."""
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list
    timestamp: int = 0


class Values(NamedTuple):
    """One partition's records of a poll, reduced to what a fold over the log needs: their values and offsets,
    in order (`poll_values`: no record object is built per message)."""
    values: list
    offsets: list[int]

    @property
    def next_offset(self) -> int:
        """The offset after the last record: what to commit, or where to resume."""
        return self.offsets[-1] + 1


class Committed(NamedTuple):
    """A group's committed position in one partition, with the metadata string its commit carried. `commit()`
    takes one in place of a bare offset to store that string with it (Kafka keeps it beside the offset)."""
    offset: int
    metadata: str = ""


class PartitionInfo(NamedTuple):
    partition: int
    leader: int  # -1: no leader
    replicas: list[int]
    isr: list[int]


@dataclass(frozen=True)
class TopicSpec:
    name: str
    num_partitions: int
    replication_factor: int = 1
    topic_configs: dict[str, str] = field(default_factory=dict)


def wait_sent(futures: Iterable, timeout_s: float = 30.0) -> None:
    """Block until every send is acknowledged; raises the first delivery error."""
    for f in futures:
        f.get(timeout=timeout_s)


class FutureBatch:
    """Sends to one topic made one by one with the producer's own `send`, each with its future: the generic way to
    send a batch (kafka-python-ng, and any producer without a `batch` method of its own, fakes included).
    `sent` counts the records the producer took; `acked()` those acknowledged so far; `wait` blocks until every
    one is acknowledged and raises the first delivery error."""

    def __init__(self, producer, topic: str):
        self.producer, self.topic = producer, topic
        self.futures: list = []

    @property
    def sent(self) -> int:
        return len(self.futures)

    def send_all(self, records: Iterable[tuple[bytes | None, bytes | None]], partition: int | None = None) -> None:
        """Send every (key, value) of `records`, to `partition` when given (else the key's partition)."""
        send, topic, futures = self.producer.send, self.topic, self.futures
        for key, value in records:
            futures.append(send(topic, key=key, value=value, partition=partition))

    def acked(self) -> int:
        return sum(1 for f in self.futures if getattr(f, "is_done", False) and f.succeeded())

    def wait(self, timeout_s: float = 30.0) -> None:
        wait_sent(self.futures, timeout_s)


def client_broken(exc: BaseException) -> bool:
    """The consumer is unusable and the caller replaces it with a new one, which rejoins the group and resumes from
    the committed offsets: a commit or a group that did not complete within its deadline (KafkaTimeoutError, the
    coordinator stayed away), or kafka-python-ng's poll loop unregistering a socket it has just closed
    (`ValueError: Invalid file descriptor: -1`, seen while joining a group on a loaded machine)."""
    return isinstance(exc, KafkaTimeoutError) or (isinstance(exc, ValueError) and "file descriptor" in str(exc))
