"""Part C analytics-consumer: the poll loop (worker.py) and its HTTP side: `/health`, `/metrics` (the file's exact
text), `/order/<id>`. `python -m streaming_kafka.analytics_consumer` runs both in one process (see common.process).
"""
from __future__ import annotations

from flask import Response, jsonify
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_fixed

from common.logs import setup_logging
from common.process import serve
from common.settings import Settings, get_settings
from common.web import create_base_app, error
from streaming_kafka.analytics_consumer.worker import AnalyticsWorker
from streaming_kafka.kafka_io import KafkaError
from streaming_kafka.topology import ensure_topics

NAME = "analytics-consumer"


def build(settings: Settings | None = None):
    """The composition root: the poll loop (it holds the metrics state) and the HTTP app that reads it."""
    settings = settings or get_settings()
    worker = AnalyticsWorker(settings)
    return create_app(settings, worker), [worker]


def create_app(settings, worker):
    def health() -> dict:
        if not worker.joined.is_set():
            raise RuntimeError("not yet a member of analytics-group")
        return {"orders_seen": len(worker.state.orders), "metrics_file": str(worker.path)}

    app = create_base_app(NAME, settings, health=health)

    @app.get("/metrics")
    def metrics():
        return Response(worker.snapshot(), mimetype="application/json")

    @app.get("/order/<order_id>")
    def order(order_id: str):
        """What happened to one order, as far as the events read so far say: pending, confirmed or failed."""
        with worker.lock:
            status = worker.state.order_status(order_id)
        if status is None:
            return error(404, "not_found", f"no OrderPlaced event for {order_id!r} has been read")
        return jsonify(status)

    return app


def main() -> int:
    settings = get_settings()
    setup_logging(NAME, settings.log_level, settings.log_format)
    retry(retry=retry_if_exception_type(KafkaError), stop=stop_after_delay(60), wait=wait_fixed(1),
          reraise=True)(ensure_topics)(settings)
    app, workers = build(settings)
    # None: the loop writes the metrics file once more on its way out, however long that takes (30 s allowed)
    return serve(NAME, app, workers, settings, settings.notification_port, stop_timeout_s=None)
