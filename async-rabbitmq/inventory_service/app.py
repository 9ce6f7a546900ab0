"""inventory-service: consumes `inventory_orders`, reserves through the common stock core; HTTP for /health, /stock.

`python -m inventory_service` runs the consumer and the HTTP server in one process (see messaging.process).
"""
from __future__ import annotations

import logging
import sqlite3
from contextlib import closing

from flask import jsonify, request
from messaging import topology
from messaging.consumer import BatchConsumer

from common.logs import setup_logging
from common.schemas import InvalidInput
from common.settings import Settings, get_settings
from common.stock import StockStore
from common.web import create_base_app, error, json_body

from .handler import InventoryHandler

NAME = "inventory-service"
PART = "async-rabbitmq"
log = logging.getLogger(NAME)


def build(settings: Settings | None = None, store: StockStore | None = None):
    """The composition root: store, handler, consumer and the HTTP app that reports on them."""
    settings = settings or get_settings()
    store = store or StockStore(settings.data_path("inventory.db", PART))
    handler = InventoryHandler(store, settings)
    # With an injected delay, one message per batch: results go out as each one is done.
    batch = 1 if settings.inventory_delay_ms else None
    consumer = BatchConsumer(settings, topology.INVENTORY_ORDERS, handler, topology.ORDERS_DLX,
                             batch_size=batch, name="inventory-consumer")
    return create_app(settings, store, handler, consumer), consumer


def create_app(settings: Settings, store: StockStore, handler: InventoryHandler | None = None, consumer=None):
    faults = {"delay_ms": settings.inventory_delay_ms, "force_failure": settings.force_failure}

    def health():
        if consumer is not None and not consumer.consuming.is_set() and not consumer.processed:
            raise RuntimeError(f"not consuming {topology.INVENTORY_ORDERS} yet (waiting for RabbitMQ)")
        return {"consuming": bool(consumer and consumer.consuming.is_set()), "faults": faults,
                "processed": consumer.processed if consumer else 0, "stats": handler.stats if handler else {}}

    app = create_base_app(NAME, settings, health=health)

    @app.get("/stock")
    def stock():
        return jsonify(store.snapshot())

    @app.get("/reservations")
    def reservations():
        first, last = time_span(store.path)
        return jsonify({"counts": store.counts(), "reserved_units": store.reserved_units(),
                        "first_at": first, "last_at": last})

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


def time_span(path: str) -> tuple[float | None, float | None]:
    """When the first and the last reservation were recorded (drain rates, seen from the consumer)."""
    with closing(sqlite3.connect(path, timeout=30)) as db:
        return db.execute("SELECT MIN(created_at), MAX(created_at) FROM reservations").fetchone()


def main() -> int:
    settings = get_settings()
    setup_logging(NAME, settings.log_level, settings.log_format)
    if settings.inventory_delay_ms or settings.force_failure:
        log.warning("fault injection enabled", extra={"faults": {"delay_ms": settings.inventory_delay_ms,
                                                                 "force_failure": settings.force_failure}})
    app, consumer = build(settings)
    from messaging.process import serve

    return serve(NAME, app, settings, settings.inventory_port, [consumer])
