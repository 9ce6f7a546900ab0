"""Part C inventory-consumer's HTTP side: `/health` (joined the group), `/stock`, `/reservations`, `/admin/reset`."""
from __future__ import annotations

from common.stock import StockStore
from common.web import create_base_app, stock_routes

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

    stock_routes(app, store, settings)  # /stock, /reservations (durable outcome counts), /admin/reset
    return app
