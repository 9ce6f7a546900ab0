"""`python -m streaming_kafka.inventory_consumer`: the inventory consumer process (HTTP side in a thread, poll loop in main)."""
from __future__ import annotations

import signal

from streaming_kafka.topology import TopologyError, check_copartitioned, ensure_topics
from kafka.errors import KafkaError
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_fixed

from common.http_server import serve_in_thread
from common.logs import setup_logging
from common.menu import uniform_stock
from common.settings import get_settings
from common.stock import StockStore

from streaming_kafka.inventory_consumer.app import NAME, create_app
from streaming_kafka.inventory_consumer.handler import InventoryHandler
from streaming_kafka.inventory_consumer.worker import InventoryWorker


def main() -> None:
    settings = get_settings()
    log = setup_logging(NAME, settings.log_level, settings.log_format)
    store = StockStore(settings.data_path("inventory.db", "streaming-kafka"), uniform_stock(settings.kafka_initial_stock))
    retry(retry=retry_if_exception_type(KafkaError), stop=stop_after_delay(60), wait=wait_fixed(1),
          reraise=True)(ensure_topics)(settings)
    try:
        check_copartitioned(settings)
    except TopologyError as exc:
        log.error("%s", exc)
        raise SystemExit(f"inventory-consumer: {exc}") from None
    worker = InventoryWorker(settings, InventoryHandler(store, force_failure=settings.force_failure,
                                                       max_bytes=settings.max_message_bytes))
    server = serve_in_thread(create_app(settings, store, worker), settings.bind_host,
                             settings.inventory_port, settings)
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    signal.signal(signal.SIGINT, lambda *_: worker.stop())
    if settings.inventory_delay_ms or settings.force_failure:
        log.warning("fault injection enabled", extra={"delay_ms": settings.inventory_delay_ms,
                                                      "force_failure": settings.force_failure})
    try:
        worker.run()
    finally:
        server.shutdown()
        store.close()


if __name__ == "__main__":
    main()
