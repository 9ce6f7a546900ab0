"""Part A order-service: `POST /order` (with optional `Idempotency-Key`), the composition root of its adapters."""
from __future__ import annotations

import logging

from flask import g, jsonify, request

from common.idempotency import IdempotencyStore, valid_key
from common.metrics import count_order
from common.schemas import InvalidInput, parse_order
from common.settings import Settings, get_settings
from common.web import create_base_app, json_body
from sync_rest.order_service import metrics
from sync_rest.order_service.breaker import CircuitBreaker
from sync_rest.order_service.clients import InventoryClient, NotificationClient
from sync_rest.order_service.orders import OrderDesk

NAME = "order-service"
log = logging.getLogger(NAME)


def breaker_changed(old: str, new: str) -> None:
    log.warning("circuit breaker %s -> %s", old, new, extra={"circuit_from": old, "circuit_to": new})
    metrics.breaker_state(new, old)


def build_desk(settings: Settings) -> OrderDesk:
    wait = settings.connect_timeout_s + settings.inventory_timeout_s + settings.notification_timeout_s + 1
    breaker = CircuitBreaker(
        settings.breaker_failure_threshold, settings.breaker_reset_s,
        on_change=breaker_changed, probe_timeout_s=settings.connect_timeout_s + settings.inventory_timeout_s + 1)
    metrics.breaker_state(breaker.snapshot().state)
    store = IdempotencyStore(settings.data_path("orders.db", "sync-rest"), stale_after_s=wait + 30)
    return OrderDesk(InventoryClient(settings), NotificationClient(settings), breaker, store, wait_busy_s=wait)


def build(settings: Settings | None = None, desk: OrderDesk | None = None):
    """The composition root (the same shape in every part): the order desk (clients, breaker, idempotency store)
    and the HTTP app over it, and no background workers."""
    settings = settings or get_settings()
    return create_app(settings, desk or build_desk(settings)), []


def create_app(settings: Settings, desk: OrderDesk):
    def health() -> dict:
        snap = desk.breaker.snapshot()  # ready (200) in every state; the breaker's state is reported, not hidden
        return {"circuit": snap.state, "circuit_failures": snap.failures, "circuit_retry_after_s": snap.retry_after_s}

    app = create_base_app(NAME, settings, health=health)

    @app.post("/order")
    def place_order():
        key = request.headers.get("Idempotency-Key")
        if not valid_key(key):
            raise InvalidInput("invalid_idempotency_key", "Idempotency-Key must be 1-255 printable characters")
        order = parse_order(json_body())
        reply = desk.place(order, key)
        g.order_id = reply.body.get("order_id")
        if "status" in reply.body:  # an order's answer (not an Idempotency-Key refusal)
            count_order(reply.body["status"], reply.body.get("reason"))
        resp = jsonify(reply.body)
        resp.status_code = reply.status
        resp.headers.update(reply.headers)
        return resp

    return app
