"""Part A inventory-service: `POST /reserve`, `GET /stock`, fault injection by environment.

Reservations are keyed by `order_id`, so a retried call (same order) never reserves twice.
"""
from __future__ import annotations

import logging

from flask import jsonify

from common.faults import Faults
from common.logs import bind
from common.metrics import RESERVATIONS
from common.schemas import ReserveBody, validate
from common.settings import Settings, get_settings
from common.stock import StockStore
from common.vocabulary import OrderStatus, ReservationOutcome
from common.web import create_base_app, error, json_body, stock_routes

NAME = "inventory-service"
log = logging.getLogger(NAME)


def build(settings: Settings | None = None, store: StockStore | None = None, faults: Faults | None = None):
    """The composition root (the same shape in every part): the store, the fault switches and the HTTP app over
    them, and no background workers. Tests pass their own collaborators."""
    settings = settings or get_settings()
    store = store or StockStore(settings.data_path("inventory.db", "sync-rest"))
    faults = faults or Faults.from_settings(settings)
    return create_app(settings, store, faults), []


def create_app(settings: Settings, store: StockStore, faults: Faults):
    faults.announce(log)
    app = create_base_app(NAME, settings, health=lambda: {"faults": faults.as_dict()})

    @app.post("/reserve")
    def reserve():
        order = validate(ReserveBody, json_body())
        order_id = order.order_id
        with bind(order_id=order_id):
            if faults.inventory():  # the part's one place where faults apply: the delay, then FORCE_FAILURE
                log.error("forced failure (FORCE_FAILURE=true)")
                return error(500, "forced_failure", "inventory is configured to fail (FORCE_FAILURE=true)")
            res = store.reserve(order.item, order.quantity, key=order_id)
            if not res.duplicate:
                RESERVATIONS.labels(ReservationOutcome(res.outcome).value).inc()
            log.info("reservation %s", res.outcome,
                     extra={"item": res.item, "quantity": res.quantity, "remaining": res.remaining,
                            "duplicate": res.duplicate})
        body = {"order_id": order_id, "item": res.item, "quantity": res.quantity,
                "remaining": res.remaining, "duplicate": res.duplicate}
        if res.outcome == ReservationOutcome.RESERVED:
            return jsonify({"status": ReservationOutcome.RESERVED, **body}), 200
        return jsonify({"status": OrderStatus.FAILED, "reason": res.outcome, **body}), 409

    stock_routes(app, store, settings)
    return app
