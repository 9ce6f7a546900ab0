"""Part A inventory-service: `POST /reserve`, `GET /stock`, fault injection by environment.

Reservations are keyed by `order_id`, so a retried call (same order) never reserves twice.
"""
from __future__ import annotations

import logging
import time

from flask import jsonify, request

from common.logs import bind, setup_logging
from common.schemas import InvalidInput, ReserveRequest, validate
from common.settings import Settings, get_settings
from common.stock import RESERVED, StockStore
from common.web import create_base_app, error, json_body

NAME = "inventory-service"
log = logging.getLogger(NAME)


def create_app(settings: Settings | None = None, store: StockStore | None = None):
    settings = settings or get_settings()
    setup_logging(NAME, settings.log_level, settings.log_format)
    store = store or StockStore(settings.data_path("inventory.db", "sync-rest"))
    faults = {"delay_ms": settings.inventory_delay_ms, "force_failure": settings.force_failure}
    app = create_base_app(NAME, settings, health=lambda: {"faults": faults})
    if settings.inventory_delay_ms or settings.force_failure:
        log.warning("fault injection enabled", extra={"faults": faults})

    @app.post("/reserve")
    def reserve():
        order = validate(ReserveRequest, json_body())
        order_id = order.order_id
        with bind(order_id=order_id):
            if settings.inventory_delay_ms:
                time.sleep(settings.inventory_delay_ms / 1000)
            if settings.force_failure:
                log.error("forced failure (FORCE_FAILURE=true)")
                return error(500, "forced_failure", "inventory is configured to fail (FORCE_FAILURE=true)")
            res = store.reserve(order.item, order.quantity, key=order_id)
            log.info("reservation %s", res.outcome,
                     extra={"item": res.item, "quantity": res.quantity, "remaining": res.remaining,
                            "duplicate": res.duplicate})
        body = {"order_id": order_id, "item": res.item, "quantity": res.quantity,
                "remaining": res.remaining, "duplicate": res.duplicate}
        if res.outcome == RESERVED:
            return jsonify({"status": "reserved", **body}), 200
        return jsonify({"status": "failed", "reason": res.outcome, **body}), 409

    @app.get("/stock")
    def stock():
        return jsonify(store.snapshot())

    @app.post("/admin/reset")
    def reset():
        if not settings.admin_api:
            return error(403, "admin_disabled", "the admin API is disabled (ADMIN_API=false)")
        body = json_body() if request.get_data() else {}
        wanted = body.get("stock") if isinstance(body, dict) else None
        if wanted is not None and not (isinstance(wanted, dict) and all(
                isinstance(k, str) and type(v) is int and v >= 0 for k, v in wanted.items())):
            raise InvalidInput("validation_error", "stock: an object of item -> non-negative integer")
        snapshot = store.reset(wanted) if wanted else store.reset()
        log.info("stock reset", extra={"stock": snapshot})
        return jsonify(snapshot)

    return app
