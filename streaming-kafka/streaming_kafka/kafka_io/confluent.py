"""The seam on confluent-kafka (librdkafka), `KAFKA_CLIENT=confluent`: the same four clients, the same guarantees.

- Partitioning: `murmur2_random`, the Java (and kafka-python-ng) partitioner, so one key lands on the same
  partition under both clients (librdkafka's own default, `consistent_random`, is CRC32-based).
- Delivery: a send returns a `SendFuture` whose `get` serves the producer's callbacks until its report came, so
  a 202 or a commit still waits for `acks=all`. The producer is idempotent (`enable.idempotence`): a retry
  cannot write a record twice, nor reorder a partition.
- Commit: synchronous (`asynchronous=False`), of the offsets the caller gives, after the effects it made durable.
- Rebalance: a start offset chosen in `on_assign` is set on the partitions handed to `assign()` inside the
  callback (librdkafka refuses a seek there); a partition given none resumes from the group's committed offset.
- librdkafka needs a `group.id` even to read by assignment; a reader without a group gets one it never commits.
"""
from __future__ import annotations

import ctypes
import functools
import logging
import time
from pathlib import Path
from typing import Any, cast

import confluent_kafka as ck
from confluent_kafka import KafkaError as _Err
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

from streaming_kafka.kafka_io.base import (
    COMMIT_TIMEOUT_S,
    CommitFailedError,
    Committed,
    KafkaError,
    KafkaTimeoutError,
    NoBrokersAvailable,
    PartitionInfo,
    Record,
    TopicAlreadyExistsError,
    TopicPartition,
    TopicSpec,
    Values,
)

NAME = "confluent"
log = logging.getLogger("kafka-client")
_librdkafka_log = logging.getLogger("librdkafka")

# librdkafka error codes that mean the group moved on: a commit then fails as kafka-python-ng's CommitFailedError.
_REBALANCED = {_Err.REBALANCE_IN_PROGRESS, _Err.ILLEGAL_GENERATION, _Err.UNKNOWN_MEMBER_ID, _Err._ASSIGNMENT_LOST,
               _Err.FENCED_INSTANCE_ID, _Err.STALE_MEMBER_EPOCH}
_COORDINATOR_AWAY = {_Err._WAIT_COORD, _Err.COORDINATOR_NOT_AVAILABLE, _Err.NOT_COORDINATOR,
                     _Err.COORDINATOR_LOAD_IN_PROGRESS, _Err._TRANSPORT, _Err._TIMED_OUT, _Err.REQUEST_TIMED_OUT}
_UNREACHABLE = {_Err._TRANSPORT, _Err._ALL_BROKERS_DOWN, _Err._RESOLVE}
_TIMEOUTS = {_Err._TIMED_OUT, _Err._MSG_TIMED_OUT, _Err.REQUEST_TIMED_OUT, _Err._TIMED_OUT_QUEUE}
# kafka-python-ng option names callers may pass, where librdkafka's name is not the same with dots.
_RENAMED = {"max_request_size": "message.max.bytes", "bootstrap_servers": "bootstrap.servers"}
_WRAPPER_ONLY = {"max_poll_records", "max_block_ms"}  # kept by the wrappers below, not librdkafka options


def error(err, what: str = "") -> KafkaError:
    """A librdkafka error (a KafkaError value, or a KafkaException carrying one) as the seam's exception."""
    if isinstance(err, KafkaException):
        err = err.args[0] if err.args else None
    code = err.code() if isinstance(err, _Err) else None
    text = f"{what}: {err}" if what else str(err)
    if code in _REBALANCED:
        return CommitFailedError(text)
    if code == _Err.TOPIC_ALREADY_EXISTS:
        return TopicAlreadyExistsError(text)
    if code in _TIMEOUTS:
        return KafkaTimeoutError(text)
    if code in _UNREACHABLE:
        return NoBrokersAvailable(text)
    return KafkaError(text)


def _translate(overrides: dict) -> dict:
    out = {}
    for key, value in overrides.items():
        if key in _WRAPPER_ONLY:
            continue
        if key == "buffer_memory":
            out["queue.buffering.max.kbytes"] = value // 1024
        elif key == "compression_type":
            out["compression.type"] = value or "none"
        else:
            out[_RENAMED.get(key, key.replace("_", "."))] = value
    return out


def producer_config(settings, bulk: bool = True) -> dict:
    cluster = len(settings.kafka_servers) > 1
    cfg = {
        "bootstrap.servers": settings.kafka_bootstrap,
        "client.id": f"{settings.service_name}-producer",
        "acks": "all",
        "enable.idempotence": True,
        "partitioner": "murmur2_random",
        "max.in.flight.requests.per.connection": 5,
        "request.timeout.ms": 15_000,
        # How long a record may wait for its acknowledgement, retries included (an idempotent producer retries
        # retriable errors, NotEnoughReplicas too, until then; a leader change takes ~10 s on the cluster). Shorter
        # than the caller's wait (`wait_sent`: 30 s; `POST /order`: KAFKA_PUBLISH_TIMEOUT_S), so a record the
        # caller gave up on has failed for good in the producer too and cannot land later.
        "message.timeout.ms": 25_000 if bulk else max(1_000, int(settings.kafka_publish_timeout_s * 800)),
        "retry.backoff.ms": 500 if cluster else 100,
        "logger": _librdkafka_log,
    }
    if bulk:
        cfg |= {"linger.ms": settings.kafka_linger_ms, "batch.size": settings.kafka_batch_bytes,
                "queue.buffering.max.kbytes": 256 * 1024, "queue.buffering.max.messages": 1_000_000,
                "message.max.bytes": 8 * 1024 * 1024}
    else:  # one event per HTTP request: send at once
        cfg["linger.ms"] = 0
    cfg["compression.type"] = settings.kafka_compression  # none, gzip, lz4, snappy, zstd: librdkafka's names too
    return cfg


@functools.cache
def _murmur2_random():
    libs = sorted((Path(ck.__file__).parent.parent / "confluent_kafka.libs").glob("librdkafka*.so*"))
    lib = ctypes.CDLL(str(libs[0]) if libs else "librdkafka.so.1")  # the wheel's own copy, else the system's
    fn = lib.rd_kafka_msg_partitioner_murmur2_random
    fn.restype = ctypes.c_int32
    fn.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int32, ctypes.c_void_p,
                   ctypes.c_void_p]
    return fn


def partition(key: bytes, count: int) -> int:
    """The partition of `key` among `count`, computed by librdkafka's own `murmur2_random` partitioner (the one
    `producer_config` sets; it reads no topic, so it is called without one)."""
    return _murmur2_random()(None, key, len(key), count, None, None)


class SendFuture:
    """The future of one send: librdkafka calls it with the delivery report, `get` waits for that report."""
    __slots__ = ("_producer", "is_done", "exception", "partition", "offset")

    def __init__(self, producer):
        self._producer = producer
        self.is_done = False
        self.exception = None

    def __call__(self, err, msg) -> None:  # on_delivery, run inside poll()/flush() of whichever thread serves them
        if err is not None:
            self.exception = error(err, "delivery failed")
        else:
            self.partition, self.offset = msg.partition(), msg.offset()
        self.is_done = True

    def succeeded(self) -> bool:
        return self.is_done and self.exception is None

    def get(self, timeout: float | None = None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.is_done:
            left = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
            if left <= 0:
                raise KafkaTimeoutError(f"no delivery report within {timeout} s")
            self._producer.poll(left)
        if self.exception is not None:
            raise self.exception
        return self


class Batch:
    """Sends to one topic awaited together: one callback counts their delivery reports, instead of a `SendFuture`
    per record (what `/bulk` and the raw benchmark producer use). `sent`: records the producer took; `acked()`:
    acknowledged (acks=all) so far; `wait` serves reports until every record has one, raising the first error."""
    __slots__ = ("_producer", "topic", "sent", "_acked", "failed", "error")

    def __init__(self, producer: Producer, topic: str):
        self._producer, self.topic = producer, topic
        self.sent = self._acked = self.failed = 0
        self.error: KafkaError | None = None

    def _report(self, err, msg) -> None:  # on_delivery of every record of the batch
        if err is None:
            self._acked += 1
        else:
            self.failed += 1
            if self.error is None:
                self.error = error(err, "delivery failed")

    def acked(self) -> int:
        return self._acked

    def send_all(self, records, partition: int | None = None) -> None:
        """Hand every (key, value) of `records` to the producer, for `partition` when given (else the key's);
        `sent` counts them even when one is refused."""
        producer, topic, n = self._producer, self.topic, 0
        produce, report = producer._p.produce, self._report  # a bound method: cheaper for librdkafka to call
        part = -1 if partition is None else partition  # -1: librdkafka's RD_KAFKA_PARTITION_UA, the partitioner's
        try:
            for key, value in records:
                try:
                    produce(topic, value, key, part, report)  # positional: measured ~0.1 µs less per record
                except BufferError:
                    producer._produce_when_room(topic, value, key, report, partition=part)
                n += 1
        except KafkaException as exc:
            if exc.args and exc.args[0].code() == _Err._UNKNOWN_PARTITION:
                raise ValueError(f"Unrecognized partition {partition} of {topic}") from exc
            raise error(exc, "send refused") from exc
        finally:
            self.sent += n
            producer._p.poll(0)  # serve the reports already in, so their queue stays short

    def wait(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.error is None and self._acked + self.failed < self.sent:
            left = deadline - time.monotonic()
            if left <= 0:
                raise KafkaTimeoutError(f"{self.sent - self._acked - self.failed} records without a delivery report "
                                        f"within {timeout_s} s")
            self._producer._p.poll(min(0.1, left))
        if self.error is not None:
            raise self.error


class Producer:
    def __init__(self, settings, bulk: bool = True, **overrides):
        self.max_block_s = overrides.get("max_block_ms", 15_000) / 1000
        self._p = ck.Producer(producer_config(settings, bulk) | _translate(overrides))
        self._sends = 0

    def send(self, topic: str, value: bytes | None = None, key: bytes | None = None, partition: int | None = None,
             headers: list | None = None) -> SendFuture:
        d = SendFuture(self._p)
        kw: dict[str, Any] = {"partition": partition} if partition is not None else {}
        if headers:
            kw["headers"] = headers
        try:
            self._p.produce(topic, value, key, on_delivery=d, **kw)
        except BufferError:
            self._produce_when_room(topic, value, key, d, **kw)
        except KafkaException as exc:
            if exc.args and exc.args[0].code() == _Err._UNKNOWN_PARTITION:
                # refused before reaching Kafka, like kafka-python-ng's AssertionError: not a broker failure
                raise ValueError(f"Unrecognized partition {partition} of {topic}") from exc
            raise error(exc, "send refused") from exc
        self._sends += 1
        if self._sends % 1000 == 0:  # reports are only served by poll: keep the queue of them short
            self._p.poll(0)
        return d

    def _produce_when_room(self, topic: str, value, key, on_delivery, **kw) -> None:
        """The local queue is full: serve reports until there is room, as a bounded block (KafkaTimeoutError)."""
        deadline = time.monotonic() + self.max_block_s
        while True:
            self._p.poll(0.05)
            try:
                self._p.produce(topic, value, key, on_delivery=on_delivery, **kw)
                return
            except BufferError:
                if time.monotonic() > deadline:
                    raise KafkaTimeoutError(f"the producer's queue stayed full for {self.max_block_s} s") from None

    def batch(self, topic: str) -> Batch:
        return Batch(self, topic)

    def flush(self, timeout: float | None = None) -> None:
        """Like kafka-python-ng's: KafkaTimeoutError when records are still waiting for their report at `timeout`."""
        left = self._p.flush(-1 if timeout is None else timeout)
        if left:
            raise KafkaTimeoutError(f"{left} records not delivered within {timeout} s")

    def close(self, timeout: float | None = None) -> None:
        self._p.flush(30 if timeout is None else timeout)  # what is still undelivered then is dropped, as in kafka-python-ng


def make_producer(settings, bulk: bool = True, **overrides) -> Producer:
    return Producer(settings, bulk, **overrides)


def consumer_config(settings, group: str | None) -> dict:
    return {
        "bootstrap.servers": settings.kafka_bootstrap,
        # librdkafka requires a group id even for assign(); a reader without a group never commits with it
        "group.id": group or f"{settings.service_name}-reader-no-group",
        "client.id": f"{settings.service_name}-consumer",
        "enable.auto.commit": False,  # we commit after the work is durable, never on a timer
        "auto.offset.reset": "earliest",
        "max.partition.fetch.bytes": 4 * 1024 * 1024,
        "fetch.max.bytes": 32 * 1024 * 1024,
        "session.timeout.ms": 10_000,
        "heartbeat.interval.ms": 3_000,
        "logger": _librdkafka_log,
    }


def _ctp(tp, offset: int | None = None) -> ck.TopicPartition:
    return ck.TopicPartition(tp[0], tp[1]) if offset is None else ck.TopicPartition(tp[0], tp[1], offset)


def _commit_tp(tp, off) -> ck.TopicPartition:
    """A partition to commit: a bare next offset, or a `Committed` (offset and metadata)."""
    if isinstance(off, tuple):
        c = Committed(*off)
        return ck.TopicPartition(tp[0], tp[1], c.offset, c.metadata)
    return _ctp(tp, off)


class Consumer:
    """A group consumer (`subscribe`) or an assign-only reader (`assign`), with kafka-python-ng's poll shape:
    `{TopicPartition: [Record, ...]}`. A reader's positions are tracked here, because librdkafka knows a
    position only once a record of the partition was consumed."""

    def __init__(self, settings, group: str | None, **overrides):
        self.max_records = overrides.get("max_poll_records", 500)
        self.group = group
        self.request_timeout_s = overrides.pop("request_timeout_ms", 10_000) / 1000  # a producer option in librdkafka
        self._c = ck.Consumer(consumer_config(settings, group) | _translate(overrides))
        self._admin_conf = {"bootstrap.servers": settings.kafka_bootstrap, "logger": _librdkafka_log}
        self._admin: AdminClient | None = None  # end offsets of many partitions in one request per broker
        self._starts: dict[TopicPartition, int] | None = None  # assign(): start offsets until the first poll
        self._pos: dict[TopicPartition, int] = {}  # next offset of each partition read here

    # --- group consumer
    def subscribe(self, topics, on_assign=None, on_revoke=None):
        def assigned(consumer, partitions):
            starts = on_assign([TopicPartition(p.topic, p.partition) for p in partitions]) if on_assign else None
            for p in partitions:
                offset = (starts or {}).get((p.topic, p.partition))
                if offset is not None:
                    p.offset = offset  # BEGINNING is librdkafka's OFFSET_BEGINNING
            self._pos.clear()
            consumer.assign(partitions)  # a partition with no offset set resumes from the committed one

        def revoked(consumer, partitions):
            if on_revoke:
                on_revoke([TopicPartition(p.topic, p.partition) for p in partitions])

        self._c.subscribe(list(topics), on_assign=assigned, on_revoke=revoked)

    def _consume(self, timeout_ms: int, max_records: int | None) -> list:
        """The messages of one poll, errors already dealt with: up to `max_records` (else the configured count)."""
        self._start()
        n = max_records or self.max_records
        try:
            # What is already fetched, at once; else wait for the first record, then take what came with it.
            # (consume(n, timeout) alone waits the whole timeout for n records: a latency kafka-python-ng has not.)
            msgs = self._c.consume(n, 0)
            if not msgs and timeout_ms > 0:
                msgs = self._c.consume(1, timeout_ms / 1000)
                if msgs and n > 1:
                    msgs += self._c.consume(n - 1, 0)
        except KafkaException as exc:
            raise error(exc, "poll failed") from exc
        errors = [err for err in map(ck.Message.error, msgs) if err is not None]
        if not errors:
            return msgs
        for err in errors:
            if err.fatal():
                raise error(err, "consumer failed")
            if err.code() != _Err._PARTITION_EOF:  # e.g. a broker down: librdkafka reconnects by itself
                log.warning("Kafka consumer: %s", err)
        return [m for m in msgs if m.error() is None]

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[TopicPartition, list[Record]]:
        out: dict[TopicPartition, list[Record]] = {}
        tp, recs = None, []
        for m in self._consume(timeout_ms, max_records):
            if tp is None or m.partition() != tp.partition or m.topic() != tp.topic:  # they come partition by partition
                tp = TopicPartition(cast(str, m.topic()), cast(int, m.partition()))
                recs = out.setdefault(tp, [])
            # a consumed message's headers are a list of (key, value) pairs, as kafka-python-ng's
            recs.append(Record(tp.topic, tp.partition, cast(int, m.offset()), m.key(), m.value(),
                               cast(list, m.headers() or []), m.timestamp()[1]))
        for tp, recs in out.items():
            self._pos[tp] = recs[-1].offset + 1
        return out

    def poll_values(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[TopicPartition, Values]:
        """`poll`, as the values and offsets of each partition's records: no record object per message."""
        out: dict[TopicPartition, Values] = {}
        tp: TopicPartition | None = None
        value: Any = None
        offset: Any = None
        for m in self._consume(timeout_ms, max_records):
            if tp is None or m.partition() != tp.partition or m.topic() != tp.topic:
                tp = TopicPartition(cast(str, m.topic()), cast(int, m.partition()))
                got = out.setdefault(tp, Values([], []))
                value, offset = got.values.append, got.offsets.append
            value(m.value())
            offset(m.offset())
        for tp, got in out.items():
            self._pos[tp] = got.offsets[-1] + 1
        return out

    def commit(self, offsets: dict, timeout_s: float = COMMIT_TIMEOUT_S) -> None:
        """Synchronous; `offsets` maps a partition to the next offset to read. It waits out a coordinator that is
        away (a broker restarting: `_WAIT_COORD`, ...) and tries again, until the commit is done, the group has
        moved on (CommitFailedError) or `timeout_s` has passed (KafkaTimeoutError: the caller replaces the client)."""
        deadline = time.monotonic() + timeout_s
        wait = 0.1
        while True:
            try:
                result = self._c.commit(offsets=[_commit_tp(tp, off) for tp, off in offsets.items()], asynchronous=False)
            except KafkaException as exc:
                err = exc.args[0] if exc.args else None
                if isinstance(err, _Err) and err.code() not in _REBALANCED and (err.retriable() or err.code() in
                                                                                 _COORDINATOR_AWAY):
                    if time.monotonic() + wait >= deadline:
                        raise KafkaTimeoutError(f"commit not done within {timeout_s:.0f} s: {err}") from exc
                    log.warning("commit not done yet (%s); trying again in %.1f s", err, wait)
                    time.sleep(wait)
                    wait = min(2 * wait, 2.0)
                    continue
                raise error(exc, "commit failed") from exc
            for p in result or ():
                if p.error is not None:
                    raise error(p.error, f"commit of {p.topic}-{p.partition} failed")
            return

    # --- assign-only reader
    def assign(self, partitions) -> None:
        self._starts = {TopicPartition(*tp): ck.OFFSET_INVALID for tp in partitions}  # committed, else earliest
        self._pos.clear()

    def seek(self, partition, offset: int) -> None:
        tp = TopicPartition(*partition)
        if self._starts is not None:  # not fetching yet: the offset goes with assign() at the first poll
            self._starts[tp] = offset
            return
        try:
            self._c.seek(_ctp(tp, offset))
        except KafkaException as exc:
            raise error(exc, "seek failed") from exc
        self._pos[tp] = offset

    def seek_to_beginning(self, *partitions) -> None:
        for tp in partitions:
            self.seek(tp, ck.OFFSET_BEGINNING)

    def position(self, partition) -> int:
        tp = TopicPartition(*partition)
        if tp in self._pos and self._pos[tp] >= 0:
            return self._pos[tp]
        start = (self._starts or {}).get(tp, ck.OFFSET_INVALID)
        low, high = self._watermarks(tp)
        if start == ck.OFFSET_BEGINNING:
            return low
        if start == ck.OFFSET_END:
            return high
        if start >= 0:
            return start
        committed = self._committed(tp)
        return committed if committed is not None else low

    def pause(self, *partitions) -> None:
        self._start()
        self._c.pause([_ctp(tp) for tp in partitions])

    def end_offsets(self, partitions) -> dict[TopicPartition, int]:
        tps = [TopicPartition(*tp) for tp in partitions]
        if not tps:
            return {}
        self._admin = self._admin or AdminClient(self._admin_conf)
        futures = self._admin.list_offsets({_ctp(tp): OffsetSpec.latest() for tp in tps},
                                           request_timeout=self.request_timeout_s)
        try:
            return {TopicPartition(p.topic, p.partition): f.result().offset for p, f in futures.items()}
        except KafkaException as exc:
            raise error(exc, "end offsets request failed") from exc

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        try:
            meta = self._c.list_topics(topic, timeout=self.request_timeout_s).topics.get(topic)
        except KafkaException as exc:
            raise error(exc, "metadata request failed") from exc
        if meta is None or meta.error is not None or not meta.partitions:
            return None
        return set(meta.partitions)

    def close(self) -> None:
        self._c.close()  # leaves the group; commits nothing (enable.auto.commit is off)

    def _start(self) -> None:
        if self._starts is not None:
            starts, self._starts = self._starts, None
            self._c.assign([_ctp(tp, off) for tp, off in starts.items()])
            for tp, off in starts.items():
                if off >= 0:
                    self._pos[tp] = off
                elif off == ck.OFFSET_BEGINNING:
                    self._pos[tp] = self._watermarks(tp)[0]

    def _watermarks(self, tp) -> tuple[int, int]:
        try:
            return self._c.get_watermark_offsets(_ctp(tp), timeout=self.request_timeout_s)
        except KafkaException as exc:
            raise error(exc, "offsets request failed") from exc

    def _committed(self, tp) -> int | None:
        last = self.last_commit(tp)
        return None if last is None else last.offset

    def last_commit(self, partition) -> Committed | None:
        """The group's committed offset of `partition` with its metadata; None when it has none."""
        if self.group is None:
            return None
        try:
            (p,) = self._c.committed([_ctp(partition)], timeout=self.request_timeout_s)
        except KafkaException as exc:
            raise error(exc, "committed offsets request failed") from exc
        return Committed(p.offset, p.metadata or "") if p.offset >= 0 else None


def make_consumer(settings, group: str | None, **overrides) -> Consumer:
    return Consumer(settings, group, **overrides)


class Admin:
    def __init__(self, settings, request_timeout_ms: int = 10_000, client_id: str = "lab-admin"):
        self.timeout_s = request_timeout_ms / 1000
        self.client = AdminClient({"bootstrap.servers": settings.kafka_bootstrap, "client.id": client_id,
                                   "socket.timeout.ms": request_timeout_ms,
                                   "logger": _librdkafka_log})  # type: ignore[dict-item]  # the stub omits the logger option

    def _metadata(self):
        try:
            return self.client.list_topics(timeout=self.timeout_s)
        except KafkaException as exc:
            raise error(exc, "metadata request failed") from exc

    def _wait(self, futures: dict, what: str) -> None:
        first = None
        for name, f in futures.items():
            try:
                f.result()
            except KafkaException as exc:
                first = first or error(exc, f"{what} {name}")
        if first is not None:
            raise first

    def list_topics(self) -> set[str]:
        return set(self._metadata().topics)

    def create_topics(self, specs: list[TopicSpec]) -> None:
        new = [NewTopic(s.name, num_partitions=s.num_partitions, replication_factor=s.replication_factor,
                        config=dict(s.topic_configs))
               for s in specs]
        self._wait(self.client.create_topics(new, request_timeout=self.timeout_s), "create topic")

    def delete_topics(self, names: list[str]) -> None:
        self._wait(self.client.delete_topics(list(names), request_timeout=self.timeout_s), "delete topic")

    def describe_topics(self, names) -> dict[str, list[PartitionInfo]]:
        """The topics the cluster describes with partitions (one just created may have none yet)."""
        topics = self._metadata().topics
        out = {}
        for name in names:
            t = topics.get(name)
            if t is not None and t.error is None and t.partitions:
                out[name] = [PartitionInfo(p.id, p.leader, list(p.replicas), list(p.isrs))
                             for p in sorted(t.partitions.values(), key=lambda p: p.id)]
        return out

    def broker_ids(self) -> set[int]:
        return set(self._metadata().brokers)

    def committed_offsets(self, group: str) -> dict[TopicPartition, int]:
        futures = self.client.list_consumer_group_offsets([ck.ConsumerGroupTopicPartitions(group)],
                                                          request_timeout=self.timeout_s)
        try:
            result = futures[group].result()
        except KafkaException as exc:
            raise error(exc, f"committed offsets of {group}") from exc
        return {TopicPartition(p.topic, p.partition): p.offset for p in result.topic_partitions or ()}

    def group_members(self, group: str) -> dict[tuple[str, int], tuple[str, str, str]]:
        futures = self.client.describe_consumer_groups([group], request_timeout=self.timeout_s)
        try:
            desc = futures[group].result()
        except KafkaException as exc:
            if exc.args and exc.args[0].code() == _Err.GROUP_ID_NOT_FOUND:  # no member ever joined: none owns any
                return {}
            raise error(exc, f"members of {group}") from exc
        owners = {}
        for m in desc.members:
            for p in (m.assignment.topic_partitions if m.assignment else ()):
                owners[(p.topic, p.partition)] = (m.member_id, m.host, m.client_id)
        return owners

    def close(self) -> None:
        pass  # the AdminClient has no close: its threads end when it is collected
