"""Part C inventory-consumer's HTTP side: `/health` (joined the group), `/stock`, `/outcomes`, `/admin/reset`."""
from __future__ import annotations

from flask import jsonify, request

from common.schemas import InvalidInput
from common.stock import StockStore
from common.web import create_base_app, error, json_body

NAME = "inventory-consumer"


def create_app(settings, store: StockStore, worker=None):
    faults = {"delay_ms": settings.inventory_delay_ms, "force_failure": settings.force_failure}

    def health() -> dict:
        if worker is not None and not worker.joined.is_set():
            raise RuntimeError("not yet a member of inventory-group")
        info = {"faults": faults, "instance": settings.service_name}
        if worker is not None:
            info |= {"partitions": worker.assigned, "stats": worker.stats}
        return info

    app = create_base_app(NAME, settings, health=health)

    @app.get("/stock")
    def stock():
        return jsonify(store.snapshot())

    @app.get("/outcomes")
    def outcomes():
        """Durable outcome counts (one record per processed event id) and units reserved per item."""
        return jsonify({"counts": store.counts(), "reserved_units": store.reserved_units(), "stock": store.snapshot()})

    @app.post("/admin/reset")
    def reset():
        if not settings.admin_api:
            return error(403, "admin_disabled", "the admin API is disabled (ADMIN_API=false)")
        body = json_body() if request.get_data() else {}
        wanted = body.get("stock") if isinstance(body, dict) else None
        if wanted is not None and not (isinstance(wanted, dict) and wanted and all(
                isinstance(k, str) and type(v) is int and v >= 0 for k, v in wanted.items())):
            raise InvalidInput("validation_error", "stock: an object of item -> non-negative integer")
        return jsonify(store.reset(wanted) if wanted else store.reset())

    return app
