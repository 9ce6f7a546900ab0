"""The test-side HTTP client of a running stack, one base for every part: what the scenarios, chaos and
failover runs, benchmarks and the comparison ask of the services over HTTP. Each part subclasses it with
its own calls (`sync_rest.lab.client.Client`, `async_rabbitmq.lab.client.Client`, `streaming_kafka.lab.client.Client`,
`comparison.patterns.Pattern`); what every part's inventory offers is here.
"""
from __future__ import annotations

import threading

import requests

from common.settings import Settings


class StackClient:
    """The three services' URLs (from settings), a keep-alive session per thread, and inventory's common calls:
    /health, /stock, /reservations and POST /admin/reset (the admin API must be on)."""

    timeout_s: float = 10.0  # one call to inventory
    default_stock: dict[str, int] | None = None  # what reset_stock sets when given none (None: the initial stock)

    def __init__(self, settings: Settings):
        self.settings = settings
        self.order_url = settings.order_url.rstrip("/")
        self.inventory_url = settings.inventory_url.rstrip("/")
        self.notification_url = settings.notification_url.rstrip("/")
        self._local = threading.local()

    @property
    def http(self) -> requests.Session:
        """This thread's session (a Session is not shared between threads)."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def health(self, url: str) -> dict:
        return self.http.get(f"{url.rstrip('/')}/health", timeout=5).json()

    def stock(self) -> dict[str, int]:
        return self.http.get(f"{self.inventory_url}/stock", timeout=self.timeout_s).json()

    def reservations(self) -> dict:
        """Inventory's durable outcome records: counts per outcome and reserved units per item."""
        return self.http.get(f"{self.inventory_url}/reservations", timeout=self.timeout_s).json()

    def reset_stock(self, stock: dict[str, int] | None = None) -> dict[str, int]:
        stock = stock or self.default_stock
        resp = self.http.post(f"{self.inventory_url}/admin/reset", json={"stock": stock} if stock else {},
                              timeout=self.timeout_s)
        resp.raise_for_status()
        return resp.json()
