"""Placing an order, synchronously: reserve with inventory, then notify, and map the outcome to the contract.

No Flask here: the HTTP layer hands in a validated `OrderRequest` and gets a `Reply`.
"""
from __future__ import annotations

import logging

from common.idempotency import IdempotencyStore, Reply
from common.ids import generate_order_id
from common.logs import bind
from common.schemas import OrderRequest
from common.vocabulary import OrderStatus, ReservationOutcome
from sync_rest.order_service import clients
from sync_rest.order_service.breaker import OPEN, CircuitBreaker, CircuitOpen

log = logging.getLogger("order-service")

STATUS = {
    ReservationOutcome.RESERVED: 201,
    ReservationOutcome.OUT_OF_STOCK: 409,
    ReservationOutcome.SERVICE_ERROR: 422,
    ReservationOutcome.INVENTORY_UNAVAILABLE: 503,
    ReservationOutcome.INVENTORY_TIMEOUT: 504,
}
FINAL = {201, 409}  # answers an idempotent retry replays; the others are worth retrying


class OrderDesk:
    def __init__(self, inventory: clients.InventoryClient, notifier: clients.NotificationClient,
                 breaker: CircuitBreaker, idempotency: IdempotencyStore, wait_busy_s: float):
        self.inventory = inventory
        self.notifier = notifier
        self.breaker = breaker
        self.idempotency = idempotency
        self.wait_busy_s = wait_busy_s

    def place(self, order: OrderRequest, key: str | None = None) -> Reply:
        if key is None:
            return self._place(order, generate_order_id())
        return self.idempotency.run(key, order.model_dump(), lambda order_id, _retry: self._place(order, order_id),
                                    final=lambda reply: reply.status in FINAL, wait_busy_s=self.wait_busy_s)

    def _place(self, order: OrderRequest, order_id: str) -> Reply:
        with bind(order_id=order_id):
            answer = self._reserve(order, order_id)
            snap = self.breaker.snapshot()
            headers = {"X-Circuit-State": snap.state}
            base = {"order_id": order_id, "item": order.item, "quantity": order.quantity,
                    "student_id": order.student_id}
            if answer.outcome != ReservationOutcome.RESERVED:
                body = {**base, "status": OrderStatus.FAILED, "reason": answer.outcome, "detail": answer.detail}
                if snap.state == OPEN:
                    body["circuit"] = OPEN
                    body["retry_after_s"] = snap.retry_after_s
                    headers["Retry-After"] = str(max(1, round(snap.retry_after_s)))
                log.warning("order failed: %s", answer.outcome, extra={"detail": answer.detail})
                return Reply(STATUS[answer.outcome], body, headers)
            sent = self.notifier.send(order_id, order.student_id,
                                      f"Your order of {order.quantity} x {order.item} is confirmed.")
            log.info("order confirmed", extra={"notification": "sent" if sent else "failed"})
            return Reply(201, {**base, "status": OrderStatus.CONFIRMED, "notification": "sent" if sent else "failed"}, headers)

    def _reserve(self, order: OrderRequest, order_id: str) -> clients.InventoryAnswer:
        try:
            return self.breaker.call(lambda: self.inventory.reserve(order_id, order.item, order.quantity),
                                     ok=lambda a: a.outcome in (ReservationOutcome.RESERVED,
                                                                 ReservationOutcome.OUT_OF_STOCK))
        except CircuitOpen:
            return clients.InventoryAnswer(ReservationOutcome.INVENTORY_UNAVAILABLE,
                                           "circuit open: inventory failed repeatedly, not calling it during the cool-down")
        except Exception as exc:  # the breaker counted it as a failure; the order fails with the contract's 422
            log.exception("inventory call raised")
            return clients.InventoryAnswer(ReservationOutcome.SERVICE_ERROR, f"inventory call failed: {type(exc).__name__}")
