"""Publishing `OrderPlaced` events: one at a time for `/order`, chunk by chunk for `/bulk`.

Delivery: at-least-once. Every send waits for the broker's `acks=all` confirmation before the HTTP
answer says "published"; a retried send may duplicate a record, which consumers absorb by `event_id`.
A failure is reported as what is known: `NotSent` (the producer never took the record) or
`DeliveryUnknown` (it took it, no acknowledgement came in time: it may still be written).
"""
from __future__ import annotations

import json
import os
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from common.menu import ITEMS
from streaming_kafka.events import BulkRequest, OrderPlaced, iso_ms, now_ms, order_placed_bytes
from streaming_kafka.kafka_io import KafkaError, make_producer, wait_sent
from streaming_kafka.topology import ORDER_TOPIC

N_ITEMS = len(ITEMS)


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


def _acked(futures) -> int:
    return sum(1 for f in futures if getattr(f, "is_done", False) and f.succeeded())


@dataclass
class _BulkProgress:
    """What a `/bulk` has done so far, for the counts of a BulkIncomplete."""
    confirmed: int = 0  # acknowledged by the broker
    handed: int = 0  # given to the producer
    in_hand: tuple[list, ...] = ()  # the futures of the chunks not yet known to be acknowledged


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
        """Generate and send `req.count` events chunk by chunk; only two chunks' futures are ever held.
        Raises BulkIncomplete with the counts known when Kafka fails on the way."""
        state = _BulkProgress()
        t0 = time.perf_counter()
        try:
            return self._bulk(req, state)
        except KafkaError as exc:
            confirmed = state.confirmed + sum(_acked(futures) for futures in state.in_hand)
            raise BulkIncomplete(exc, req.count, confirmed, state.handed - confirmed,
                                 round(time.perf_counter() - t0, 3)) from exc

    def _bulk(self, req: BulkRequest, state: _BulkProgress) -> dict:
        rng = random.Random(req.seed)
        producer = self.producer(True)
        student = json.dumps(req.student_id)
        chunk, published, flagged = self.settings.bulk_chunk, 0, 0
        first = last = None
        pending: list = []
        t0 = time.perf_counter()
        while published < req.count:
            n = min(chunk, req.count - published)
            futures: list = []
            state.in_hand = (pending, futures)  # neither acknowledged yet; `futures` grows below
            # One urandom call per chunk instead of two per event: 20 random bytes per event for its ids.
            entropy = os.urandom(20 * n).hex()
            for i in range(n):
                if i % 1000 == 0:  # the events' own time, refreshed every 1,000 events (the hot loop stays cheap)
                    ms = now_ms()
                    stamp = iso_ms(ms)
                rand = entropy[40 * i:40 * i + 40]
                order_id = f"ORD-{ms}-{rand[:8]}"  # the shape of common.ids.generate_order_id
                event_id = uuid.UUID(hex=rand[8:], version=4).hex  # as common.ids.generate_event_id
                fail = rng.random() < req.fail_rate
                flagged += fail
                value = order_placed_bytes(order_id, event_id, student, ITEMS[int(rng.random() * N_ITEMS)],
                                           1 + int(rng.random() * 3), stamp, fail)
                futures.append(producer.send(ORDER_TOPIC, key=order_id.encode(), value=value))
                state.handed += 1
                first = first or order_id
            last = order_id
            wait_sent(pending)  # the previous chunk is confirmed by now, or we fail loudly
            state.confirmed += len(pending)
            state.in_hand = (futures,)
            pending = futures
            published += n
        producer.flush()
        wait_sent(pending)
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
