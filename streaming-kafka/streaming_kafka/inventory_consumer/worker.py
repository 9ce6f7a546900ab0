"""The inventory consumer's poll loop: `OrderEvents` in, `InventoryEvents` (or the DLQ) out.

Delivery guarantee: at-least-once in, effectively-once out. For each polled batch we reserve (one
durable transaction) and produce every result; the batch's offsets are committed only once the broker
has acknowledged (`acks=all`) all of its results and dead letters and those of every batch before it.
A crash anywhere before the commit means the batch is delivered again; the durable `event_id` records
turn the second pass into byte-identical results and no stock change, and analytics counts one result
per order. Several instances in `inventory-group` share the partitions.

Pipelined: while a batch's results wait for their acknowledgements, the next batches are polled, reserved
and sent; once COMMIT_EVERY batches are in flight behind the one in hand, they are awaited and committed
in one commit, oldest first, and when a poll finds nothing new all of them are. A failed send rewinds to
the oldest uncommitted batch; a revoke (rebalance) finishes the batches in flight (acks, then commit) or
abandons them before the partitions move; a stop drains them.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Any, NamedTuple

from common.metrics import DEAD_LETTERS, EVENTS_PRODUCED, MESSAGES_CONSUMED, MESSAGES_DUPLICATE, RESERVATIONS
from common.retry import PRODUCE_ERROR, Failed, RetryPolicy, is_transient, run_isolated
from common.vocabulary import ReservationOutcome
from streaming_kafka.inventory_consumer.handler import Action, InventoryHandler
from streaming_kafka.kafka_io import (
    CommitFailedError,
    KafkaError,
    client_broken,
    make_consumer,
    make_producer,
    new_batch,
    wait_sent,
)
from streaming_kafka.topology import DLQ_REASON_HEADER, DLQ_TOPIC, INVENTORY_GROUP, INVENTORY_TOPIC, ORDER_TOPIC

log = logging.getLogger("inventory-consumer")
# How long a batch's results may take to be acknowledged (acks=all) before the batch is rewound and retried.
SEND_TIMEOUT_S = 30.0
# How many batches in flight one commit covers while records keep coming (a synchronous commit is a broker
# round trip, a few milliseconds, against about 10 ms of work per batch of 500).
COMMIT_EVERY = 2


class _Assignments:
    def __init__(self, worker: InventoryWorker):
        self.worker = worker

    def on_partitions_revoked(self, revoked):
        # Runs inside poll(), before the partitions move: the batches in flight are committed now or never.
        log.info("partitions revoked", extra={"partitions": sorted(tp.partition for tp in revoked)})
        self.worker.finish_in_flight()

    def on_partitions_assigned(self, assigned):
        # No start offsets: each partition resumes from the group's committed offset.
        self.worker.assigned = sorted(tp.partition for tp in assigned)
        self.worker.joined.set()
        log.info("partitions assigned", extra={"partitions": self.worker.assigned})

    def subscribe(self, consumer) -> None:
        consumer.subscribe([ORDER_TOPIC], on_assign=self.on_partitions_assigned, on_revoke=self.on_partitions_revoked)


class InFlight(NamedTuple):
    """A batch reserved and sent, not yet committed: where it starts and ends, and what must be acknowledged."""

    starts: dict  # partition -> the batch's first offset there (where a rewind goes)
    offsets: dict  # partition -> the next offset to read (what its commit says)
    results: Any  # the seam's batch of results
    dead: list  # the dead letters' futures
    records: int
    actions: list[Action]


class InventoryWorker:
    name = "inventory-worker"  # its thread's name

    def __init__(self, settings, handler: InventoryHandler, consumer=None, producer=None):
        self.settings = settings
        self.handler = handler
        self._consumer = consumer
        self._producer = producer
        self.policy = RetryPolicy.from_settings(settings)
        self.stopping = threading.Event()
        self.joined = threading.Event()
        self.assigned: list[int] = []
        self.in_flight: list[InFlight] = []  # oldest first; committed in this order
        self._clients: tuple = (None, None)  # the consumer and producer run() uses (the revoke callback's)
        self.stats = {"processed": 0, "results": 0, "duplicates": 0, "dead_letters": 0, "batches": 0}
        delay = handler.faults.delay_ms
        # A slow consumer takes smaller batches so one batch never outlives max.poll.interval.ms.
        self.max_records = max(1, min(settings.kafka_poll_records, 5000 // delay)) if delay else settings.kafka_poll_records

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        consumer = self._consumer or self._new_consumer()
        producer = self._producer or make_producer(self.settings, bulk=True, linger_ms=5)
        self._clients = (consumer, producer)
        _Assignments(self).subscribe(consumer)
        try:
            while not self.stopping.is_set():
                try:
                    # With a batch in flight, only what is already fetched: when nothing is, the batch is
                    # committed now rather than after the poll's wait.
                    batch = consumer.poll(timeout_ms=0 if self.in_flight else 500, max_records=self.max_records)
                    if batch:
                        self._submit(consumer, producer, batch)
                    if not batch or len(self.in_flight) > COMMIT_EVERY:
                        self._settle(consumer, producer, keep=1 if batch else 0)
                except (ValueError, KafkaError) as exc:
                    if not client_broken(exc):
                        raise
                    consumer = self._rejoin(consumer, exc)
                    self._clients = (consumer, producer)
            self.finish_in_flight()  # the stop: drain what is in flight
        finally:
            # Leave the group at once so the partitions move to the other instances without waiting
            # for the session timeout; what was not committed (an error above) is delivered again.
            consumer.close()
            producer.close(timeout=10)
            log.info("inventory consumer stopped", extra=self.stats)

    def _new_consumer(self):
        return make_consumer(self.settings, INVENTORY_GROUP, max_poll_records=self.max_records)

    def _rejoin(self, consumer, exc: BaseException):
        """A client that is broken (`client_broken`: a commit or a rejoin past its deadline, a closed socket) is
        replaced; the new one rejoins and resumes from the committed offsets: a batch processed but not committed
        is processed again, which the event_id records make a no-op."""
        log.warning("Kafka client failed (%s: %s); rejoining with a new consumer", type(exc).__name__, exc)
        self.in_flight.clear()  # its offsets belong to the old member; the new one resumes before them
        try:
            consumer.close()
        except Exception as close_exc:  # noqa: BLE001 - the broken client may fail to close; dropped
            log.info("closing the failed consumer: %s", close_exc)
        consumer = self._new_consumer()
        _Assignments(self).subscribe(consumer)
        return consumer

    def _process(self, consumer, producer, batch: dict) -> None:
        """One batch on its own: reserved, sent, acknowledged and committed before this returns."""
        self._submit(consumer, producer, batch)
        self._settle(consumer, producer, keep=0)

    def _submit(self, consumer, producer, batch: dict) -> None:
        """Reserve the batch and send its results and dead letters, without waiting for them: it joins `in_flight`."""
        records = [r for recs in batch.values() for r in recs]
        actions = self._actions(records)
        starts = {tp: recs[0].offset for tp, recs in batch.items()}
        try:
            results, dead = self._send_all(producer, records, actions)
        except KafkaError as exc:
            self._rewind(consumer, starts, exc)
            return
        offsets = {tp: recs[-1].offset + 1 for tp, recs in batch.items()}
        self.in_flight.append(InFlight(starts, offsets, results, dead, len(records), actions))

    def _settle(self, consumer, producer, keep: int, rewind: bool = True) -> None:
        """Wait for the acknowledgements of all but the newest `keep` batches in flight, then commit them in
        one commit (the newest one's offsets win). A failed send rewinds to the oldest (else raises)."""
        done = self.in_flight[:len(self.in_flight) - keep]
        if not done:
            return
        try:
            if not keep:  # nothing left to overlap with: send what lingers now
                producer.flush(timeout=SEND_TIMEOUT_S)
            for b in done:
                b.results.wait(SEND_TIMEOUT_S)
                wait_sent(b.dead, SEND_TIMEOUT_S)
        except KafkaError as exc:
            if not rewind:
                raise
            self._rewind(consumer, {}, exc)
            return
        del self.in_flight[:len(done)]
        offsets: dict = {}
        for b in done:
            offsets.update(b.offsets)
        try:
            # Raises KafkaTimeoutError when the coordinator stays away past the deadline: run() replaces the client.
            consumer.commit(offsets)
        except CommitFailedError as exc:
            # The group rebalanced under us: the new owner re-delivers these batches and gets identical results.
            log.warning("commit failed after a rebalance (the batch will be redelivered): %s", exc)
        for b in done:
            self.stats["batches"] += 1
            self.stats["processed"] += b.records
            for name, n in count(b.actions).items():
                self.stats[name] += n

    def _rewind(self, consumer, starts: dict, exc: BaseException) -> None:
        """Not acknowledged: back to the start of the oldest uncommitted batch (`starts`: one not in flight yet)
        and try again; idempotency makes the retry safe."""
        log.error("producing results failed, retrying from the oldest uncommitted batch: %s", exc)
        first: dict = {}
        for b in [*self.in_flight, InFlight(starts, {}, None, [], 0, [])]:
            for tp, offset in b.starts.items():
                first[tp] = min(offset, first.get(tp, offset))
        self.in_flight.clear()
        for tp, offset in first.items():
            consumer.seek(tp, offset)
        time.sleep(1.0)

    def finish_in_flight(self) -> None:
        """Before a rebalance moves the partitions, or at a stop: commit the batches in flight once acknowledged,
        or abandon them (their records are delivered again from the committed offsets, to whoever gets the
        partitions: the event_id records make that safe)."""
        consumer, producer = self._clients
        if not self.in_flight or consumer is None:
            return
        try:
            self._settle(consumer, producer, keep=0, rewind=False)
        except KafkaError as exc:
            log.warning("the batches in flight are abandoned (they will be redelivered): %s", exc)
        self.in_flight.clear()

    def _actions(self, records) -> list[Action]:
        """One action per record. Any handler error is a value here (common.retry): transient ones are backed
        off for the budget, any other is isolated to the one record that causes it, which is dead-lettered, so
        a poison record can never stop the loop before its offset is committed."""
        outcomes = run_isolated([r.value for r in records], self.handler.handle, self.policy,
                                on_error=self._on_handler_error)
        return [Action("dead", reason=o.reason, detail=o.detail) if isinstance(o, Failed) else o for o in outcomes]

    def _on_handler_error(self, values, exc: BaseException) -> None:
        log.error("handler failed on %d records (%s: %s); %s", len(values), type(exc).__name__, exc,
                  "retried within the budget" if is_transient(exc) else "isolating the failing one")

    def _send_all(self, producer, records, actions) -> tuple:
        """Send each record's result (one seam batch: confluent-kafka counts its reports, no future per result) or
        dead letter (a future each; they are rare). Returns the batch and the dead letters' futures."""
        results = new_batch(producer, INVENTORY_TOPIC)
        dead: list = []
        by_partition: dict[int, list] = {}
        for record, action in zip(records, actions, strict=True):
            if action.kind == "result":
                by_partition.setdefault(record.partition, []).append((record, action))
            else:
                dead.append(self._send(producer, record, action))
        for partition, items in by_partition.items():
            # Co-partitioned topics (same key, same partition count, checked at start-up): the default
            # partitioner would pick the order's own partition number anyway; passing it saves a pure-Python
            # murmur2 per event under kafka-python-ng.
            before = results.sent
            try:
                results.send_all([(a.key, a.value) for _, a in items], partition=partition)
            except KafkaError:
                raise
            except Exception:  # noqa: BLE001 - refused before Kafka: the rest one by one, each refusal dead-lettered
                for record, action in items[results.sent - before:]:
                    dead.append(self._send_or_dead_letter(producer, record, action))
        return results, dead

    def _send_or_dead_letter(self, producer, record, action):
        """A send that fails before reaching Kafka (not a KafkaError, e.g. the producer's assertion on a partition
        that does not exist) dead-letters that one record, so the loop still commits the batch."""
        try:
            return self._send(producer, record, action)
        except KafkaError:
            raise
        except Exception as exc:  # noqa: BLE001 - becomes a dead letter with the reason, never a dead consumer
            if action.kind == "dead":
                raise
            detail = f"{type(exc).__name__}: {exc}"[:500]
            return self._send(producer, record, Action("dead", reason=PRODUCE_ERROR, detail=detail))

    def _send(self, producer, record, action):
        if action.kind == "result":  # the order's own partition, as in `_send_all`
            return producer.send(INVENTORY_TOPIC, key=action.key, value=action.value, partition=record.partition)
        log.warning("poison event to the DLQ", extra={"reason": action.reason, "detail": action.detail,
                                                      "partition": record.partition, "offset": record.offset})
        return producer.send(DLQ_TOPIC, key=record.key, value=record.value if record.value is not None else b"",
                             headers=dead_letter_headers(record, action.reason, action.detail))


def count(actions: list[Action]) -> dict[str, int]:
    """A committed batch in the Prometheus metrics: consumed, duplicates, dead letters by reason, reservations.
    Tallied first, then one increment per label (a labelled increment per record cost as much as its reservation).
    Returns the batch's results, duplicates and dead letters (the worker's stats)."""
    MESSAGES_CONSUMED.labels(INVENTORY_GROUP).inc(len(actions))
    figures = {"results": 0, "duplicates": 0, "dead_letters": 0}
    tally = Counter(("dead", a.reason or "unknown") if a.kind == "dead" else (a.duplicate, a.outcome) for a in actions)
    for (first, second), n in tally.items():
        if first == "dead":
            DEAD_LETTERS.labels(INVENTORY_GROUP, second).inc(n)
            figures["dead_letters"] += n
            continue
        EVENTS_PRODUCED.labels(INVENTORY_TOPIC).inc(n)
        figures["results"] += n
        if first:  # a duplicate
            MESSAGES_DUPLICATE.labels(INVENTORY_GROUP).inc(n)
            figures["duplicates"] += n
        elif second:
            RESERVATIONS.labels(ReservationOutcome(second).value).inc(n)
    return figures


def dead_letter_headers(record, reason: str, detail: str | None) -> list[tuple[str, bytes]]:
    """Why and where from: `make redrive` reads `source_topic` and `dlq_reason` to re-publish what is retryable."""
    return [(DLQ_REASON_HEADER, reason.encode()), ("dlq_detail", (detail or "").encode("utf-8", "replace")),
            ("source_topic", record.topic.encode()), ("source_partition", str(record.partition).encode()),
            ("source_offset", str(record.offset).encode())]
