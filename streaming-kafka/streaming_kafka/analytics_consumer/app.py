"""Part C analytics-consumer's HTTP side: `/health`, `/metrics` (the file's exact text), `/order/<id>`."""
from __future__ import annotations

from flask import Response, jsonify

from common.web import create_base_app, error

NAME = "analytics-consumer"


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
