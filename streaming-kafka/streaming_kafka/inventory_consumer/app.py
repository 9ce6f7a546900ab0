"""Part C inventory-consumer: the poll loop (worker.py) and its HTTP side: `/health` (joined the group), `/stock`,
`/reservations`, `/admin/reset`. `python -m streaming_kafka.inventory_consumer` runs both in one process
(see common.process).
"""
from __future__ import annotations

import logging

from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_fixed

from common.errors import StackError, exit_status
from common.faults import Faults
from common.logs import setup_logging
from common.menu import uniform_stock
from common.process import serve
from common.settings import Settings, get_settings
from common.stock import StockStore
from common.web import create_base_app, stock_routes
from streaming_kafka.inventory_consumer.handler import InventoryHandler
from streaming_kafka.inventory_consumer.worker import InventoryWorker
from streaming_kafka.kafka_io import KafkaError
from streaming_kafka.topology import TopologyError, check_copartitioned, ensure_topics

NAME = "inventory-consumer"
PART = "streaming-kafka"
log = logging.getLogger(NAME)


def build(settings: Settings | None = None, store: StockStore | None = None):
    """The composition root: store, handler, the poll loop and the HTTP app that reports on them."""
    settings = settings or get_settings()
    store = store or StockStore(settings.data_path("inventory.db", PART), uniform_stock(settings.kafka_initial_stock))
    worker = InventoryWorker(settings, InventoryHandler(store, Faults.from_settings(settings),
                                                       max_bytes=settings.max_message_bytes))
    return create_app(settings, store, worker), [worker]


def create_app(settings, store: StockStore, worker=None):
    faults = worker.handler.faults.as_dict() if worker is not None else {}

    def health() -> dict:
        if worker is not None and not worker.joined.is_set():
            raise RuntimeError("not yet a member of inventory-group")
        info = {"faults": faults, "instance": settings.service_name}
        if worker is not None:
            info |= {"partitions": worker.assigned, "stats": worker.stats}
        return info

    app = create_base_app(NAME, settings, health=health)

    stock_routes(app, store, settings)  # /stock, /reservations (durable outcome counts), /admin/reset
    return app


def main() -> int:
    """`python -m streaming_kafka.inventory_consumer`; a topology that cannot work is one line on stderr, exit 1."""
    settings = get_settings()
    setup_logging(NAME, settings.log_level, settings.log_format)
    return exit_status(_serve, settings)


def _serve(settings: Settings) -> int:
    retry(retry=retry_if_exception_type(KafkaError), stop=stop_after_delay(60), wait=wait_fixed(1),
          reraise=True)(ensure_topics)(settings)
    try:
        check_copartitioned(settings)
    except TopologyError as exc:
        log.error("%s", exc)
        raise StackError(f"inventory-consumer: {exc}") from None
    store = StockStore(settings.data_path("inventory.db", PART), uniform_stock(settings.kafka_initial_stock))
    app, workers = build(settings, store)
    Faults.from_settings(settings).announce(log)
    try:
        # None: a batch in hand is finished and committed, however long that takes (the runtime allows 30 s)
        return serve(NAME, app, workers, settings, settings.inventory_port, stop_timeout_s=None)
    finally:
        store.close()
