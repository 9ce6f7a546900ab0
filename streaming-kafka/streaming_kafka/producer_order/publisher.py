"""Publishing `OrderPlaced` events: one at a time for `/order`, chunk by chunk for `/bulk`.

Delivery: at-least-once. Every send waits for the broker's `acks=all` confirmation before the HTTP
answer says "published"; a retried send may duplicate a record, which consumers absorb by `event_id`.
A failure is reported as what is known: `NotSent` (the producer never took the record) or
`DeliveryUnknown` (it took it, no acknowledgement came in time: it may still be written).
"""
from __future__ import annotations

import functools
import itertools
import json
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from common.ids import generate_event_ids
from common.menu import ITEMS
from streaming_kafka.events import BulkRequest, OrderPlaced, iso_ms, now_ms
from streaming_kafka.kafka_io import KafkaError, make_producer, new_batch
from streaming_kafka.topology import ORDER_TOPIC


class NotSent(Exception):
    """The producer never took the record (no broker, no metadata): it is certainly not written."""

    def __init__(self, cause: Exception):
        super().__init__(str(cause))
        self.cause = cause


class DeliveryUnknown(Exception):
    """The producer took the record but no acknowledgement came in time: it may or may not be written."""

    def __init__(self, cause: Exception):
        super().__init__(str(cause))
        self.cause = cause


class BulkIncomplete(Exception):
    """`/bulk` stopped early: how many events are acknowledged, how many may still land, how many never left."""

    def __init__(self, cause: Exception, requested: int, confirmed: int, unconfirmed: int, seconds: float):
        super().__init__(str(cause))
        self.cause = cause
        self.requested, self.confirmed, self.unconfirmed = requested, confirmed, unconfirmed
        self.not_sent = requested - confirmed - unconfirmed
        self.seconds = seconds


_BLOCK = 1000  # events per timestamp: generated together, with one urandom call for their ids
_JOIN = 100  # events per joined text: a few kB each measured faster than one text of a whole block
_HEAD, _MID = '{"event_type":"OrderPlaced","event_id":"', '","order_id":"'


@functools.lru_cache(maxsize=64)
def _cum_weights(fail_rate: float) -> tuple[float, ...]:
    """The cumulative weights of the tails of `_tails`: not flagged, then flagged, each item and quantity uniform."""
    share = len(ITEMS) * 3
    return tuple(itertools.accumulate([(1 - fail_rate) / share] * share + [fail_rate / share] * share))


def _tails(student_json: str, stamp: str) -> tuple[list[str], set[str]]:
    """Every way an event of one block can end after its order id (a line each), in `_cum_weights`' order, and
    the flagged ones."""
    tails = {flag: [f'","student_id":{student_json},"item":"{item}","quantity":{q},"timestamp":"{stamp}",'
                    f'"force_fail":{flag}}}\n' for item in ITEMS for q in (1, 2, 3)] for flag in ("false", "true")}
    return tails["false"] + tails["true"], set(tails["true"])


def generate_events(n: int, rng: random.Random, fail_rate: float, student_json: str) -> tuple[list, list, int]:
    """`n` `OrderPlaced` events: their keys, their values, and how many are flagged `force_fail`. Each value is
    `order_placed_bytes(...)` byte for byte. Per block the work is done by a few calls over all its events, not by
    Python code per event: one rng draw per event picks its flag, item and quantity together (a seed gives the same
    events); the values are texts of a line per event (ids, order ids and tails interleaved), encoded and split;
    the keys likewise. student_json is a JSON string (so without a raw newline)."""
    cum = _cum_weights(fail_rate)
    choices = rng.choices
    keys: list = []
    values: list = []
    flagged = 0
    for start in range(0, n, _BLOCK):  # the events' own time, refreshed every block
        ms = now_ms()
        count = min(_BLOCK, n - start)
        tails, flagged_tails = _tails(student_json, iso_ms(ms))
        chosen = choices(tails, cum_weights=cum, k=count)
        flagged += sum(map(flagged_tails.__contains__, chosen))
        prefix = f"ORD-{ms}-"  # the shape of common.ids.generate_order_id: 8 random hex digits after it
        order_ids = prefix + os.urandom(4 * count).hex("\n", 4).replace("\n", "\n" + prefix)
        parts = [_HEAD, "", _MID, "", ""] * count
        # UUIDv7s of the events' own millisecond (time-ordered: the consumers' idempotency records append), made
        # together from one urandom call
        parts[1::5] = generate_event_ids(count, ms)
        parts[3::5] = order_ids.split("\n")
        parts[4::5] = chosen
        for i in range(0, 5 * count, 5 * _JOIN):
            values += "".join(parts[i:i + 5 * _JOIN]).encode().split(b"\n")
            values.pop()  # after the last line's newline
        keys += order_ids.encode().split(b"\n")
    return keys, values, flagged


@dataclass
class _BulkProgress:
    """What a `/bulk` has done so far, for the counts of a BulkIncomplete."""
    confirmed: int = 0  # acknowledged by the broker, in the batches waited for
    in_hand: tuple = ()  # the batches not yet known to be acknowledged in full

    def counts(self) -> tuple[int, int]:
        """(acknowledged, handed to the producer) so far."""
        return (self.confirmed + sum(b.acked() for b in self.in_hand),
                self.confirmed + sum(b.sent for b in self.in_hand))


class OrderPublisher:
    """Owns the two producers of this process, created on first use (never at import or fork time)."""

    def __init__(self, settings, factory: Callable[..., Any] | None = None):
        self.settings = settings
        self._factory = factory or (lambda bulk: make_producer(settings, bulk=bulk))
        self._producers: dict[bool, Any] = {}  # the kafka_io seam's producers (duck-typed)
        self._lock = threading.Lock()

    def producer(self, bulk: bool):
        with self._lock:
            if bulk not in self._producers:
                self._producers[bulk] = self._factory(bulk)
            return self._producers[bulk]

    def publish(self, event: OrderPlaced, timeout_s: float = 10.0) -> None:
        """Send one event keyed by its order id and wait for the broker's acknowledgement (NotSent, DeliveryUnknown)."""
        try:
            future = self.producer(False).send(ORDER_TOPIC, key=event.order_id.encode(), value=event.to_bytes())
        except KafkaError as exc:
            raise NotSent(exc) from exc
        try:
            future.get(timeout_s)
        except KafkaError as exc:
            raise DeliveryUnknown(exc) from exc

    def publish_bulk(self, req: BulkRequest) -> dict:
        """Generate and send `req.count` events chunk by chunk; only two chunks are ever unacknowledged.
        Raises BulkIncomplete with the counts known when Kafka fails on the way."""
        state = _BulkProgress()
        t0 = time.perf_counter()
        try:
            return self._bulk(req, state)
        except KafkaError as exc:
            confirmed, handed = state.counts()
            raise BulkIncomplete(exc, req.count, confirmed, handed - confirmed,
                                 round(time.perf_counter() - t0, 3)) from exc

    def _bulk(self, req: BulkRequest, state: _BulkProgress) -> dict:
        rng = random.Random(req.seed)
        producer = self.producer(True)
        student = json.dumps(req.student_id)
        chunk, published, flagged = self.settings.bulk_chunk, 0, 0
        first = last = None
        pending = None
        t0 = time.perf_counter()
        while published < req.count:
            keys, values, fails = generate_events(min(chunk, req.count - published), rng, req.fail_rate, student)
            flagged += fails
            first = first or keys[0].decode()
            last = keys[-1].decode()
            batch = new_batch(producer, ORDER_TOPIC)
            state.in_hand = (pending, batch) if pending else (batch,)
            # the pairs made as they are sent: zip reuses its one tuple, so none is left to the garbage collector
            batch.send_all(zip(keys, values, strict=True))
            if pending:
                pending.wait()  # the previous chunk is confirmed by now, or we fail loudly
                state.confirmed += pending.sent
                state.in_hand = (batch,)
            pending = batch
            published += len(keys)
        if pending:
            producer.flush()
            pending.wait()
            state.confirmed += pending.sent
            state.in_hand = ()
        seconds = time.perf_counter() - t0
        return {"published": published, "seconds": round(seconds, 3),
                "events_per_second": round(published / seconds) if seconds else None,
                "force_fail_flagged": flagged, "fail_rate": req.fail_rate,
                "first_order_id": first, "last_order_id": last}

    def close(self) -> None:
        with self._lock:
            for p in self._producers.values():
                p.close()
            self._producers.clear()
