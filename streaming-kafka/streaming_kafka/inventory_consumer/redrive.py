"""Redrive: re-produce retryable records of `OrderEvents.DLQ` to `OrderEvents`, once the cause is fixed.

The redrive is a consumer group of its own (`inventory-redrive`) on the DLQ: it reads from its committed
offsets up to the end offsets at its start, re-produces each retryable record (same key and value, so the
same partition; `acks=all`, waited for), and only then commits. A crash between produce and commit
re-publishes a record the inventory consumer has already seen, which its durable `event_id` idempotency turns
into no change. Retryable: `dlq_reason` `retries_exhausted`, `handler_error` or `produce_error`; permanent
poison (invalid JSON, unknown item...) is kept unless `include_all` (e.g. after a fix that makes it valid).

A kept record must stay within reach of a later `include_all` run, so the committed offset never moves past
the first record kept (a Kafka log cannot be acked record by record, as Part B's queue can). What lies between
that offset and where the run stopped is told by the commit's metadata, `scanned:<offset>`: up to there every
retryable record has been re-driven already, so a later run skips it (it is re-produced once, not on every
run) and reconsiders only the kept ones. Records not from `OrderEvents` can never be re-driven: they are
reported when first read and do not hold the offset back. So a plain run re-drives new retryable records and
reports the kept poison again (as Part B's does), and an `include_all` run re-drives the kept ones and commits
past them: nothing is lost and nothing is re-driven twice.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from common.retry import RETRYABLE_REASONS
from streaming_kafka.kafka_io import Committed, TopicPartition, make_producer, make_reader, wait_sent
from streaming_kafka.topology import DLQ_REASON_HEADER, DLQ_TOPIC, ORDER_TOPIC, REDRIVE_GROUP

REDRIVEN_HEADER = "redriven_from"  # `OrderEvents.DLQ-<partition>-<offset>` of the copy it came from


@dataclass
class RedriveResult:
    looked_at: int = 0
    redriven: int = 0
    kept: Counter = field(default_factory=Counter)  # reason -> records skipped


def _header(record, name: str) -> str:
    for key, value in record.headers or ():
        if key == name:
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return ""


SCANNED = "scanned:"  # commit metadata: the offset up to which the retryable records have been re-driven


def _scanned(committed, start: int) -> int:
    """Where the previous run stopped reading (its commit's metadata); `start` when unknown (an older commit)."""
    meta = getattr(committed, "metadata", "") or ""
    try:
        return max(start, int(meta[len(SCANNED):])) if meta.startswith(SCANNED) else start
    except ValueError:
        return start


def redrive(settings, include_all: bool = False, consumer=None, producer=None) -> RedriveResult:
    consumer = consumer or make_reader(settings, REDRIVE_GROUP)
    producer = producer or make_producer(settings, bulk=False)
    result = RedriveResult()
    try:
        tps = [TopicPartition(DLQ_TOPIC, p) for p in sorted(consumer.partitions_for_topic(DLQ_TOPIC) or ())]
        consumer.assign(tps)
        end = consumer.end_offsets(tps)
        scanned = {tp: _scanned(consumer.last_commit(tp), consumer.position(tp)) for tp in tps}
        held: dict = {}  # tp -> offset of the first record kept in this run (the commit goes no further)
        remaining = {tp for tp in tps if consumer.position(tp) < end[tp]}
        while remaining:
            for tp, recs in consumer.poll(timeout_ms=1000).items():
                recs = [r for r in recs if r.offset < end[tp]]
                futures = []
                for r in recs:
                    reason = _header(r, DLQ_REASON_HEADER)
                    from_orders = _header(r, "source_topic") == ORDER_TOPIC
                    if r.offset < scanned[tp] and (reason in RETRYABLE_REASONS or not from_orders):
                        continue  # re-driven (or reported) by an earlier run
                    result.looked_at += 1
                    if not from_orders or not (include_all or reason in RETRYABLE_REASONS):
                        result.kept[reason or "unknown_source"] += 1
                        if from_orders:
                            held.setdefault(tp, r.offset)
                        continue
                    origin = f"{r.topic}-{r.partition}-{r.offset}".encode()
                    futures.append(producer.send(ORDER_TOPIC, key=r.key, value=r.value,
                                                 headers=[(REDRIVEN_HEADER, origin)]))
                producer.flush()
                wait_sent(futures)  # in the log before the offsets move past them
                result.redriven += len(futures)
                if recs:
                    upto = recs[-1].offset + 1
                    consumer.commit({tp: Committed(held.get(tp, upto), f"{SCANNED}{max(upto, scanned[tp])}")})
                if not recs or consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
                    consumer.pause(tp)
    finally:
        producer.close(timeout=10)
        consumer.close()
    return result
