"""Placing an order in Part C: produce one `OrderPlaced` and answer with what is actually known.

No Flask here: the HTTP layer hands in a validated `OrderRequest` and gets a `Reply`. Kafka either
acknowledged the event (202), or never got it (503, not produced), or got it without acknowledging in
time (504, `status: "unknown"`: it may still be written and processed). Only the last is ambiguous; a
client resolves it by retrying with the same `Idempotency-Key`: the key is bound to the order id
(common.idempotency), and the event id is derived from the order id, so the retry produces the very same
event and the consumers, which dedup by event id and order id, count it once. No ghost order, no double.
"""
from __future__ import annotations

import logging
import uuid

from common.idempotency import IdempotencyStore, Reply
from common.ids import generate_event_id, generate_order_id
from common.logs import bind
from common.schemas import OrderRequest
from common.vocabulary import OrderStatus
from streaming_kafka.events import OrderPlaced, now_ms
from streaming_kafka.producer_order.publisher import DeliveryUnknown, NotSent, OrderPublisher

log = logging.getLogger("producer-order")
_EVENTS = uuid.UUID("5f0c7b1e-2a4d-4c59-9a53-6f6f64c1ab00")  # namespace of the event ids derived from order ids


def event_id_for(order_id: str) -> str:
    """The `OrderPlaced` event id of a keyed order: the same on every retry (a 32-hex UUID, as generate_event_id)."""
    return uuid.uuid5(_EVENTS, order_id).hex


class OrderDesk:
    def __init__(self, publisher: OrderPublisher, idempotency: IdempotencyStore, timeout_s: float):
        self.publisher = publisher
        self.idempotency = idempotency
        self.timeout_s = timeout_s

    def place(self, order: OrderRequest, key: str | None = None) -> Reply:
        if key is None:
            return self._place(order, generate_order_id(), generate_event_id(), keyed=False, retry=False)
        return self.idempotency.run(
            key, order.model_dump(),
            lambda order_id, retry: self._place(order, order_id, event_id_for(order_id), keyed=True, retry=retry),
            final=lambda reply: reply.status == 202, wait_busy_s=self.timeout_s + 1)

    def _place(self, order: OrderRequest, order_id: str, event_id: str, keyed: bool, retry: bool) -> Reply:
        base = {"order_id": order_id, "event_id": event_id, "item": order.item, "quantity": order.quantity,
                "student_id": order.student_id}
        event = OrderPlaced.new(order_id=order_id, event_id=event_id, student_id=order.student_id, item=order.item,
                                quantity=order.quantity, ts_ms=now_ms())
        how_to_retry = ("retry with the same Idempotency-Key: you get this order_id and no second order"
                        if keyed else "send an Idempotency-Key to retry safely; without one a retry is a new order")
        with bind(order_id=order_id, event_id=event_id):
            try:
                self.publisher.publish(event, self.timeout_s)
            except NotSent as exc:
                log.error("OrderPlaced not produced: %s", exc.cause)
                # A retry's earlier attempt may have landed even though this one never left.
                return Reply(503, {**base, "error": "broker_unavailable",
                                   "status": OrderStatus.UNKNOWN if retry else OrderStatus.FAILED,
                                   "detail": f"Kafka is unreachable, the event was not produced"
                                             f" ({type(exc.cause).__name__}); {how_to_retry}"},
                             {"Retry-After": "1"})
            except DeliveryUnknown as exc:
                log.warning("OrderPlaced not acknowledged in time; delivery unknown: %s", exc.cause)
                return Reply(504, {**base, "error": "delivery_unknown", "status": OrderStatus.UNKNOWN,
                                   "detail": f"Kafka did not acknowledge the event within {self.timeout_s:g} s"
                                             f" ({type(exc.cause).__name__}); it may still be written and"
                                             f" processed; {how_to_retry}"},
                             {"Retry-After": "1"})
            log.info("OrderPlaced published", extra={"item": order.item, "quantity": order.quantity})
        return Reply(202, {**base, "status": OrderStatus.PENDING})
