"""inventory-service: consumes `inventory_orders`, reserves through the common stock core; HTTP for /health, /stock.

`python -m async_rabbitmq.inventory_service` runs the consumer and the HTTP server in one process (see common.process).
"""
from __future__ import annotations

import logging

from async_rabbitmq.inventory_service.handler import InventoryHandler
from async_rabbitmq.messaging import topology
from async_rabbitmq.messaging.consumer import BatchConsumer
from common.faults import Faults
from common.logs import setup_logging
from common.process import serve
from common.settings import Settings, get_settings
from common.stock import StockStore
from common.web import create_base_app, stock_routes

NAME = "inventory-service"
PART = "async-rabbitmq"
log = logging.getLogger(NAME)


def build(settings: Settings | None = None, store: StockStore | None = None):
    """The composition root: store, handler, consumer and the HTTP app that reports on them."""
    settings = settings or get_settings()
    store = store or StockStore(settings.data_path("inventory.db", PART))
    faults = Faults.from_settings(settings)
    handler = InventoryHandler(store, settings, faults)
    # With an injected delay, one message per batch: results go out as each one is done.
    batch = 1 if faults.delay_ms else None
    consumer = BatchConsumer(settings, topology.INVENTORY_ORDERS, handler, topology.ORDERS_DLX,
                             batch_size=batch, name="inventory-consumer")
    return create_app(settings, store, handler, consumer), [consumer]


def create_app(settings: Settings, store: StockStore, handler: InventoryHandler | None = None, consumer=None):
    faults = handler.faults.as_dict() if handler else {}

    def health():
        if consumer is not None and not consumer.consuming.is_set() and not consumer.processed:
            raise RuntimeError(f"not consuming {topology.INVENTORY_ORDERS} yet (waiting for RabbitMQ)")
        return {"consuming": bool(consumer and consumer.consuming.is_set()), "faults": faults,
                "processed": consumer.processed if consumer else 0, "stats": handler.stats if handler else {},
                "unroutable": consumer.unroutable if consumer else 0}  # results returned by the broker, redone

    app = create_base_app(NAME, settings, health=health)
    stock_routes(app, store, settings)  # GET /stock, GET /reservations, POST /admin/reset (shared)
    return app


def main() -> int:
    settings = get_settings()
    setup_logging(NAME, settings.log_level, settings.log_format)
    Faults.from_settings(settings).announce(log)
    app, workers = build(settings)
    return serve(NAME, app, workers, settings, settings.inventory_port)
