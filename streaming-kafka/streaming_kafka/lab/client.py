"""Part C's lab client: HTTP access to the three services of the running stack (the analytics consumer answers on
the notification port). The scenarios, chaos, failover, the tests and the comparison drive the stack through it."""
from __future__ import annotations

import time

import requests

from common.menu import ITEMS
from common.settings import Settings
from labkit.client import StackClient

BIG_STOCK = {item: 10_000_000 for item in ITEMS}  # so reservations succeed and double-processing would show


class Client(StackClient):
    """HTTP access to the three services (analytics answers on the notification port)."""

    timeout_s = 30.0
    default_stock = BIG_STOCK

    def __init__(self, settings: Settings):
        super().__init__(settings)
        self.analytics_url = self.notification_url

    def bulk(self, count: int, fail_rate: float = 0.0, seed: int | None = None) -> dict:
        t0 = time.perf_counter()
        body = {"count": count, "fail_rate": fail_rate} | ({"seed": seed} if seed is not None else {})
        resp = requests.post(f"{self.order_url}/bulk", json=body, timeout=600)
        resp.raise_for_status()
        return resp.json() | {"http_seconds": round(time.perf_counter() - t0, 3)}

    def order(self, item: str = "pizza", quantity: int = 1) -> dict:
        resp = self.http.post(f"{self.order_url}/order", json={"student_id": "scenario", "item": item,
                                                                 "quantity": quantity}, timeout=30)
        resp.raise_for_status()
        return resp.json()

    def metrics(self) -> dict:
        return self.http.get(f"{self.analytics_url}/metrics", timeout=30).json()

    def metrics_text(self) -> str:
        return self.http.get(f"{self.analytics_url}/metrics", timeout=30).text

    def order_status(self, order_id: str) -> dict | None:
        resp = self.http.get(f"{self.analytics_url}/order/{order_id}", timeout=10)
        return None if resp.status_code == 404 else resp.json()
