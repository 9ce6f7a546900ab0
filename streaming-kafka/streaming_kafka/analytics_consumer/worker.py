"""The live analytics loop (`analytics-group`) and the replay, sharing one way of folding records.

The metrics state lives in memory and is rebuilt from the log: on every assignment each partition resumes
from the offset this process has folded up to, or from the beginning when it has folded none of it (the log
is the source of truth, keyed state makes a re-read harmless). The group's committed offsets are never where
it resumes: after a restart they belong to the previous process. Offsets are committed after each batch so the
group's lag shows how far behind the live view is. The file is rewritten every METRICS_INTERVAL_S when
something changed, and on shutdown.
"""
from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from bisect import bisect_left
from dataclasses import dataclass
from pathlib import Path

from streaming_kafka.analytics_consumer.metrics import MetricsState, render
from streaming_kafka.kafka_io import (
    BEGINNING,
    CommitFailedError,
    KafkaError,
    TopicPartition,
    client_broken,
    make_consumer,
)
from streaming_kafka.topology import ANALYTICS_GROUP, EVENT_TOPICS, REPLAY_GROUP_PREFIX

log = logging.getLogger("analytics-consumer")
METRICS_FILE = "metrics_output.json"
REPLAY_FILE = "replay_output.json"

# Large fetches: analytics reads far more than it computes.
FETCH = {"max_partition_fetch_bytes": 16 * 1024 * 1024, "fetch_max_bytes": 64 * 1024 * 1024}


def write_atomic(path: Path, text: str) -> None:
    """Readers never see a half-written file: write a sibling, then rename over."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o644)  # mkstemp makes it 0600: the lab's file is for everyone on the host to read (Docker: uid 10001)
    os.replace(tmp, path)


class _Rewind:
    def __init__(self, worker: AnalyticsWorker):
        self.worker = worker

    def on_partitions_assigned(self, assigned) -> dict:
        # Resume where *this state* stopped. Resuming from the committed offset (what the consumer does for a
        # partition nobody seeks) skipped records when a rebalance came in the middle of a rebuild.
        folded = self.worker.folded
        starts = {tp: folded.get(tp, BEGINNING) for tp in assigned}
        # The group's committed offsets must say where this state resumes: a batch folded whose commit failed
        # (CommitFailedError: the group rebalanced meanwhile) is not read again, so nothing else would commit it,
        # and with no new record on that partition its lag would stay above 0 for ever. Committed after the poll
        # that runs this callback (never inside it).
        self.worker.pending_commit = {tp: folded[tp] for tp in assigned if tp in folded}
        self.worker.joined.set()
        log.info("partitions assigned", extra={"partitions": [f"{tp.topic}-{tp.partition}" for tp in assigned],
                                               "rewound": sum(tp not in folded for tp in assigned)})
        return starts

    def subscribe(self, consumer) -> None:
        consumer.subscribe(list(EVENT_TOPICS), on_assign=self.on_partitions_assigned)


class AnalyticsWorker:
    name = "analytics-worker"  # its thread's name

    def __init__(self, settings, state: MetricsState | None = None, consumer=None):
        self.settings = settings
        self.state = state or MetricsState(settings.max_message_bytes)
        self.consumer = consumer
        self.stopping = threading.Event()
        self.joined = threading.Event()
        self.folded: dict[TopicPartition, int] = {}  # partition -> next offset this state has not folded
        self.pending_commit: dict[TopicPartition, int] = {}  # folded offsets of assigned partitions, to commit
        self.lock = threading.Lock()  # the HTTP thread reads the state while the loop folds records in
        self.path = Path(settings.metrics_dir) / METRICS_FILE
        self._written_version = -1

    def stop(self) -> None:
        self.stopping.set()

    def snapshot(self) -> str:
        with self.lock:
            return render(self.state.metrics())

    def write(self) -> None:
        if self.state.version != self._written_version:
            version = self.state.version
            try:
                write_atomic(self.path, self.snapshot())
            except OSError as exc:  # e.g. a read-only mount: /metrics still serves the numbers
                log.error("cannot write %s: %s", self.path, exc)
                return
            self._written_version = version

    def run(self) -> None:
        self.consumer = self.consumer or make_consumer(self.settings, ANALYTICS_GROUP, max_poll_records=5000, **FETCH)
        _Rewind(self).subscribe(self.consumer)
        next_write = time.monotonic() + self.settings.metrics_interval_s
        try:
            while not self.stopping.is_set():
                try:
                    self._poll_once()
                except (ValueError, KafkaError) as exc:
                    if not client_broken(exc):
                        raise
                    self._rejoin(exc)
                if time.monotonic() >= next_write:
                    self.write()
                    next_write = time.monotonic() + self.settings.metrics_interval_s
        finally:
            self.write()
            self.consumer.close()
            log.info("analytics consumer stopped", extra={"orders": len(self.state.orders)})

    def _poll_once(self) -> None:
        batch = self.consumer.poll_values(timeout_ms=500)
        if batch:
            with self.lock:
                for tp, got in batch.items():
                    self.state.add_many(got.values)
                    self.folded[tp] = got.next_offset
            self.pending_commit.update({tp: got.next_offset for tp, got in batch.items()})
        if not self.pending_commit:
            return
        offsets, self.pending_commit = self.pending_commit, {}
        try:
            # KafkaTimeoutError when the coordinator stays away past the deadline: run() replaces the client
            self.consumer.commit(offsets)
        except CommitFailedError as exc:
            # The group rebalanced: the next assignment resumes from this state's folded offsets and commits them.
            log.warning("commit failed after a rebalance: %s", exc)

    def _rejoin(self, exc: BaseException) -> None:
        """The client is unusable (`client_broken`: a commit or a rejoin past its deadline, a closed socket): a new
        one rejoins the group, and `_Rewind` resumes each partition where this state stopped."""
        log.warning("Kafka client failed (%s: %s); rejoining with a new consumer", type(exc).__name__, exc)
        try:
            self.consumer.close()
        except Exception as close_exc:  # noqa: BLE001 - the broken client may fail to close; it is dropped anyway
            log.info("closing the failed consumer: %s", close_exc)
        self.consumer = make_consumer(self.settings, ANALYTICS_GROUP, max_poll_records=5000, **FETCH)
        _Rewind(self).subscribe(self.consumer)


@dataclass
class ReplayResult:
    group: str
    events: int
    seconds: float
    end_offsets: dict[str, int]
    metrics: dict
    text: str

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def replay(settings, group: str | None = None, consumer=None) -> ReplayResult:
    """Recompute the metrics in a fresh group from the earliest offsets up to the end offsets at its start."""
    group = group or f"{REPLAY_GROUP_PREFIX}{int(time.time())}"
    consumer = consumer or make_consumer(settings, group, max_poll_records=20_000, **FETCH)
    state = MetricsState(settings.max_message_bytes)
    t0 = time.perf_counter()
    try:
        tps = [TopicPartition(t, p) for t in EVENT_TOPICS for p in sorted(consumer.partitions_for_topic(t) or ())]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        remaining = {tp for tp in tps if end[tp] > consumer.position(tp)}
        events = 0
        while remaining:
            for tp, got in consumer.poll_values(timeout_ms=1000).items():
                limit = end[tp]  # stop at the snapshot: later events are not part of this replay
                values = got.values if got.offsets[-1] < limit else got.values[:bisect_left(got.offsets, limit)]
                state.add_many(values)
                events += len(values)
                if consumer.position(tp) >= limit:
                    remaining.discard(tp)
                    consumer.pause(tp)
        # Record where the replay stopped, so the replay group shows up in the lag table.
        consumer.commit({tp: end[tp] for tp in tps})
    finally:
        consumer.close()
    seconds = time.perf_counter() - t0
    metrics = state.metrics()
    return ReplayResult(group, events, seconds, {f"{tp.topic}-{tp.partition}": end[tp] for tp in tps},
                        metrics, render(metrics))
