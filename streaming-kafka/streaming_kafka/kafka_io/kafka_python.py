"""The seam on kafka-python-ng (the default, `KAFKA_CLIENT=kafka-python-ng`).

Producers use `acks=all` (the broker confirms a record only once it is in the log) and retries; the
bulk producer waits `KAFKA_LINGER_MS` to fill large batches and compresses them (gzip is in the standard
library and, measured here, roughly doubles kafka-python's throughput by sending fewer bytes).

No idempotent producer: kafka-python-ng 2.2.3 has no `enable_idempotence` (it rejects the option; its record
batches carry producer id -1; dpkp/kafka-python added it in 2.1, PR #2569, which this fork predates). A retried
send may therefore write a record twice; consumers absorb that by `event_id`.
On a cluster a send rides out a leader change: the broker's session timeout (9 s) passes before the
controller elects a new leader, so a batch may wait longer and retry more often than on one broker.
The producer is kafka-python-ng's own (its futures already have `get`); the consumer is a thin subclass that
takes the seam's partitions and rebalance callbacks.
"""
from __future__ import annotations

import time

from kafka import ConsumerRebalanceListener, KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka import TopicPartition as _KafkaTopicPartition
from kafka.admin import NewTopic
from kafka.coordinator.base import MemberState
from kafka.partitioner.default import DefaultPartitioner
from kafka.structs import OffsetAndMetadata

from streaming_kafka.kafka_io.base import (
    BEGINNING,
    COMMIT_TIMEOUT_S,
    GROUP_STALL_S,
    Committed,
    KafkaTimeoutError,
    PartitionInfo,
    TopicPartition,
    TopicSpec,
    Values,
)

NAME = "kafka-python-ng"


def producer_config(settings, bulk: bool = True) -> dict:
    cfg = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "acks": "all",
        "retries": 5,
        # Several requests in flight per broker: a retry may then reorder records of a partition, which is
        # harmless here because each order has exactly one event per topic.
        "max_in_flight_requests_per_connection": 5,
        "request_timeout_ms": 15_000,
        "max_block_ms": 15_000,
        "client_id": f"{settings.service_name}-producer",
    }
    if len(settings.kafka_servers) > 1:  # a cluster (natively or in compose): ride out a leader change:
        # retriable errors (NotLeader, NotEnoughReplicas) for ~5 s, batches wait 30 s for a leader
        cfg |= {"retries": 10, "retry_backoff_ms": 500, "request_timeout_ms": 30_000}
    if bulk:
        cfg |= {"linger_ms": settings.kafka_linger_ms, "batch_size": settings.kafka_batch_bytes,
                "buffer_memory": 256 * 1024 * 1024, "max_request_size": 8 * 1024 * 1024}
    else:  # one event per HTTP request: send at once
        cfg |= {"linger_ms": 0}
    if settings.kafka_compression != "none":
        cfg["compression_type"] = settings.kafka_compression
    return cfg


def consumer_config(settings, group: str | None) -> dict:
    return {
        "bootstrap_servers": settings.kafka_bootstrap,
        "group_id": group,
        "client_id": f"{settings.service_name}-consumer",
        "enable_auto_commit": False,  # we commit after the work is durable, never on a timer
        "auto_offset_reset": "earliest",
        "max_partition_fetch_bytes": 4 * 1024 * 1024,
        "fetch_max_bytes": 32 * 1024 * 1024,
        "session_timeout_ms": 10_000,
        "heartbeat_interval_ms": 3_000,
    }


def partition(key: bytes, count: int) -> int:
    """The partition of `key` among `count` (the Java client's murmur2), as this client's producer picks it."""
    partitions = list(range(count))
    return DefaultPartitioner()(key, partitions, partitions)


def make_producer(settings, bulk: bool = True, **overrides) -> KafkaProducer:
    return KafkaProducer(**(producer_config(settings, bulk) | overrides))


def _tp(tp) -> _KafkaTopicPartition:
    # kafka-python-ng checks isinstance(..., its TopicPartition) in seek/assign/pause: hand it its own type
    return tp if isinstance(tp, _KafkaTopicPartition) else _KafkaTopicPartition(tp[0], tp[1])


class _Listener(ConsumerRebalanceListener):
    def __init__(self, consumer: Consumer, on_assign, on_revoke):
        self.consumer, self.on_assign, self.on_revoke = consumer, on_assign, on_revoke

    def on_partitions_revoked(self, revoked):
        if self.on_revoke:
            self.on_revoke([TopicPartition(*tp) for tp in revoked])

    def on_partitions_assigned(self, assigned):
        starts = self.on_assign([TopicPartition(*tp) for tp in assigned]) if self.on_assign else None
        for tp, offset in (starts or {}).items():  # a seek inside the callback is how kafka-python-ng does it
            if offset == BEGINNING:
                self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, offset)


class Consumer(KafkaConsumer):
    """kafka-python-ng's consumer with the seam's signatures and deadlines; position, end_offsets... are its own.

    kafka-python-ng 2.2.3 waits for a group coordinator without a deadline (`ensure_coordinator_ready` loops
    until one answers, reached from `poll` and from the synchronous commit), so a broker that comes back in a
    state the client does not recover from would stall the worker for good. Here `commit` has a deadline and
    raises KafkaTimeoutError, and a subscribed `poll` looks the coordinator up itself, a bounded step per call,
    raising KafkaTimeoutError when the group stays without a coordinator or unjoined for GROUP_STALL_S: the
    caller then replaces the client (`client_broken`), which rejoins and resumes from the committed offsets."""

    def __init__(self, **configs):
        super().__init__(**configs)
        self._subscribed = False
        self._unready_since: float | None = None  # when polls began to find the group unjoined, None while joined

    def subscribe(self, topics, on_assign=None, on_revoke=None):
        super().subscribe(list(topics), listener=_Listener(self, on_assign, on_revoke))
        self._subscribed = True

    def poll(self, timeout_ms=0, max_records=None, update_offsets=True):
        if self._subscribed and not self._group_ready(timeout_ms):
            return {}
        return super().poll(timeout_ms=timeout_ms, max_records=max_records, update_offsets=update_offsets)

    def poll_values(self, timeout_ms=0, max_records=None) -> dict[TopicPartition, Values]:
        """`poll`, as the values and offsets of each partition's records (this library builds its records itself)."""
        return {TopicPartition(*tp): Values([r.value for r in recs], [r.offset for r in recs])
                for tp, recs in self.poll(timeout_ms=timeout_ms, max_records=max_records).items()}

    def _group_ready(self, timeout_ms: int) -> bool:
        """False (after waiting at most `timeout_ms` for a coordinator) while the coordinator is unknown, where the
        library's own poll would block; raises once polls have found the group unjoined for GROUP_STALL_S."""
        coordinator = self._coordinator
        now = time.monotonic()
        if coordinator.state is MemberState.STABLE and not coordinator.coordinator_unknown():
            self._unready_since = None
            return True
        if self._unready_since is None:
            self._unready_since = now
        elif now - self._unready_since > GROUP_STALL_S:
            raise KafkaTimeoutError(f"group {self.config['group_id']} without a coordinator or unjoined for "
                                    f"{GROUP_STALL_S:.0f} s")
        if not coordinator.coordinator_unknown():
            return True  # known coordinator: joining goes on inside the library's poll, bounded by its requests
        self._wait(coordinator.lookup_coordinator(), now + timeout_ms / 1000)
        return not coordinator.coordinator_unknown()

    def _wait(self, future, deadline: float) -> None:
        """Serve the network until `future` is done or `deadline` (monotonic) passes; never blocks past it (the
        library's `client.poll(future=...)` has no deadline)."""
        while True:  # at least one round, so a zero timeout still moves the request along
            left_ms = max(0.0, (deadline - time.monotonic()) * 1000)
            self._client.poll(timeout_ms=min(left_ms, 100))
            if future.is_done or left_ms <= 0:
                return

    def assign(self, partitions):
        super().assign([_tp(tp) for tp in partitions])

    def seek(self, partition, offset):
        super().seek(_tp(partition), offset)

    def seek_to_beginning(self, *partitions):
        super().seek_to_beginning(*(_tp(tp) for tp in partitions))

    def position(self, partition):
        return super().position(_tp(partition))

    def pause(self, *partitions):
        super().pause(*(_tp(tp) for tp in partitions))

    def end_offsets(self, partitions):
        return {TopicPartition(*tp): off for tp, off in super().end_offsets([_tp(tp) for tp in partitions]).items()}

    def commit(self, offsets: dict, timeout_s: float = COMMIT_TIMEOUT_S):
        """Synchronous; `offsets` maps a partition to the next offset to read, or to a `Committed` (with metadata).
        The library's `commit_offsets_sync` with a deadline: retriable errors (coordinator away, moved, loading)
        are retried until `timeout_s`, then KafkaTimeoutError; a rebalance raises CommitFailedError at once."""
        assert self.config["group_id"] is not None, "commit needs a group"
        coordinator = self._coordinator
        request = {_tp(tp): OffsetAndMetadata(*Committed(*off) if isinstance(off, tuple) else (off, ""))
                   for tp, off in offsets.items()}
        if not request:
            return
        deadline = time.monotonic() + timeout_s
        backoff = self.config["retry_backoff_ms"] / 1000
        while True:
            # the commit request itself, or first a coordinator lookup (commit_offsets_async would hand back
            # the lookup's future when the coordinator is unknown, which says nothing about the commit)
            committing = not coordinator.coordinator_unknown()
            future = (coordinator._send_offset_commit_request(request) if committing  # noqa: SLF001
                      else coordinator.lookup_coordinator())
            self._wait(future, deadline)
            if future.is_done and future.succeeded():
                if committing:
                    return
                continue  # a coordinator is known now: send the commit
            if future.is_done and not future.retriable():
                raise future.exception
            if future.is_done and getattr(future.exception, "invalid_metadata", False):
                self._client.cluster.request_update()
            if time.monotonic() + backoff >= deadline:
                raise KafkaTimeoutError(f"commit not done within {timeout_s:.0f} s (the group's coordinator is away)")
            time.sleep(backoff)

    def last_commit(self, partition) -> Committed | None:
        """The group's committed offset of `partition` with its metadata; None when it has none."""
        meta = super().committed(_tp(partition), metadata=True)
        return None if meta is None else Committed(meta.offset, meta.metadata or "")

    def close(self):
        super().close(autocommit=False)


def make_consumer(settings, group: str | None, **overrides) -> Consumer:
    return Consumer(**(consumer_config(settings, group) | overrides))


class Admin:
    def __init__(self, settings, request_timeout_ms: int = 10_000, client_id: str = "lab-admin"):
        self.client = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id=client_id,
                                       request_timeout_ms=request_timeout_ms)

    def list_topics(self) -> set[str]:
        return set(self.client.list_topics())

    def create_topics(self, specs: list[TopicSpec]) -> None:
        self.client.create_topics([NewTopic(s.name, s.num_partitions, s.replication_factor,
                                            topic_configs=dict(s.topic_configs))
                                   for s in specs])

    def delete_topics(self, names: list[str]) -> None:
        self.client.delete_topics(list(names))

    def describe_topics(self, names) -> dict[str, list[PartitionInfo]]:
        """The topics the cluster describes with partitions (one just created may have none yet)."""
        return {t["topic"]: [PartitionInfo(p["partition"], p["leader"], list(p["replicas"]), list(p["isr"]))
                             for p in t["partitions"]]
                for t in self.client.describe_topics(list(names)) if not t.get("error_code") and t["partitions"]}

    def broker_ids(self) -> set[int]:
        return {b["node_id"] for b in self.client.describe_cluster()["brokers"]}

    def committed_offsets(self, group: str) -> dict[TopicPartition, int]:
        return {TopicPartition(*tp): meta.offset for tp, meta in self.client.list_consumer_group_offsets(group).items()}

    def group_members(self, group: str) -> dict[tuple[str, int], tuple[str, str, str]]:
        owners = {}
        for desc in self.client.describe_consumer_groups([group]):
            for m in desc.members:
                assignment = m.member_assignment
                for topic, partitions in (assignment.assignment if assignment else []):
                    for p in partitions:
                        owners[(topic, p)] = (m.member_id, m.client_host, m.client_id)
        return owners

    def close(self) -> None:
        self.client.close()
