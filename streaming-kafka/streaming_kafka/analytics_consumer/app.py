"""Part C analytics-consumer: the poll loop (worker.py) and its HTTP side: `/health`, `/metrics` (the file's exact
text; Prometheus's exposition format, the same figures as gauges, for a client whose Accept asks for it),
`/order/<id>`. `python -m streaming_kafka.analytics_consumer` runs both in one process (see common.process).
"""
from __future__ import annotations

import json

from flask import Response, jsonify, request
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_fixed

from common.logs import setup_logging
from common.metrics import add_collector, gauge, metrics_response, wants_exposition
from common.process import serve
from common.settings import Settings, get_settings
from common.web import create_base_app, error
from streaming_kafka.analytics_consumer.gc_tuning import tune_gc
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

    app = create_base_app(NAME, settings, health=health, metrics_route=False)
    add_collector(app, lambda: figures(json.loads(worker.snapshot())))

    @app.get("/metrics")
    def metrics():
        """The lab's JSON for its clients; the exposition format only when the client asks for it (Prometheus)."""
        if wants_exposition(request.headers.get("Accept")):
            return metrics_response()
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


FIGURES = {  # the metrics file's field -> (gauge, help, factor to base units)
    "total_orders_seen": ("analytics_orders_seen", "Distinct orders (OrderPlaced) the analytics has read", 1),
    "total_reserved": ("analytics_orders_reserved", "Orders the analytics has seen reserved", 1),
    "total_failed": ("analytics_orders_failed", "Orders the analytics has seen failed", 1),
    "duration_minutes": ("analytics_duration_seconds", "Time between the first and last order seen", 60),
    "avg_orders_per_minute": ("analytics_orders_per_minute", "Average orders per minute over that span", 1),
    "failure_rate_percent": ("analytics_failure_ratio", "Failed orders / orders seen (0..1)", 0.01),
}


def figures(doc: dict):
    """The analytics figures as gauges, read from the same snapshot the JSON gives."""
    for field, (name, text, factor) in FIGURES.items():
        value = doc.get(field)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            yield gauge(name, text, value * factor)


def main() -> int:
    settings = get_settings()
    setup_logging(NAME, settings.log_level, settings.log_format)
    retry(retry=retry_if_exception_type(KafkaError), stop=stop_after_delay(60), wait=wait_fixed(1),
          reraise=True)(ensure_topics)(settings)
    app, workers = build(settings)
    tune_gc()  # start-up is done: the modules, the app and the (empty) state are frozen
    # None: the loop writes the metrics file once more on its way out, however long that takes (30 s allowed)
    return serve(NAME, app, workers, settings, settings.notification_port, stop_timeout_s=None)
