"""`python -m streaming_kafka.analytics_consumer`: the live analytics process (HTTP side in a thread, poll loop in main)."""
from __future__ import annotations

import signal

from streaming_kafka.topology import ensure_topics
from kafka.errors import KafkaError
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_fixed

from common.http_server import serve_in_thread
from common.logs import setup_logging
from common.settings import get_settings

from streaming_kafka.analytics_consumer.app import NAME, create_app
from streaming_kafka.analytics_consumer.worker import AnalyticsWorker


def main() -> None:
    settings = get_settings()
    setup_logging(NAME, settings.log_level, settings.log_format)
    retry(retry=retry_if_exception_type(KafkaError), stop=stop_after_delay(60), wait=wait_fixed(1),
          reraise=True)(ensure_topics)(settings)
    worker = AnalyticsWorker(settings)
    server = serve_in_thread(create_app(settings, worker), settings.bind_host,
                             settings.notification_port, settings)
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    signal.signal(signal.SIGINT, lambda *_: worker.stop())
    try:
        worker.run()
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
