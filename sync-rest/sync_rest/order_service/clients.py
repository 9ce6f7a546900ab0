"""HTTP clients for the order service's two downstream calls: one pooled session each, connect and read timeouts.

They translate HTTP into values (`InventoryAnswer`), so the ordering logic never sees `requests`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import requests
from requests.adapters import HTTPAdapter

from common.settings import Settings
from common.vocabulary import ReservationOutcome
from sync_rest.order_service import metrics

log = logging.getLogger("order-service")


@dataclass(frozen=True)
class InventoryAnswer:
    """What the inventory call came to: RESERVED, OUT_OF_STOCK, SERVICE_ERROR, INVENTORY_UNAVAILABLE or
    INVENTORY_TIMEOUT."""
    outcome: ReservationOutcome
    detail: str = ""
    remaining: int | None = None


def pooled_session(pool: int) -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class InventoryClient:
    def __init__(self, settings: Settings):
        self.url = settings.inventory_url.rstrip("/") + "/reserve"
        self.timeout = (settings.connect_timeout_s, settings.inventory_timeout_s)
        self.session = pooled_session(settings.web_threads * 2)

    def reserve(self, order_id: str, item: str, quantity: int) -> InventoryAnswer:
        with metrics.timed("inventory"):
            answer = self._reserve(order_id, item, quantity)
        if answer.outcome not in (ReservationOutcome.RESERVED, ReservationOutcome.OUT_OF_STOCK):
            metrics.CALL_ERRORS.labels("inventory", answer.outcome.value).inc()
        return answer

    def _reserve(self, order_id: str, item: str, quantity: int) -> InventoryAnswer:
        try:
            resp = self.session.post(self.url, json={"order_id": order_id, "item": item, "quantity": quantity},
                                     timeout=self.timeout)
        except requests.ConnectTimeout as exc:
            return InventoryAnswer(ReservationOutcome.INVENTORY_UNAVAILABLE, f"connect timed out: {exc}")
        except requests.ReadTimeout:
            return InventoryAnswer(ReservationOutcome.INVENTORY_TIMEOUT,
                                   f"inventory did not answer within {self.timeout[1]:g}s")
        except requests.ConnectionError as exc:
            return InventoryAnswer(ReservationOutcome.INVENTORY_UNAVAILABLE,
                                   f"cannot reach inventory: {type(exc).__name__}")
        except requests.RequestException as exc:  # e.g. ChunkedEncodingError: an answer broken off half-way
            return InventoryAnswer(ReservationOutcome.SERVICE_ERROR,
                                   f"inventory's answer was broken: {type(exc).__name__}")
        try:
            body = resp.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):  # valid JSON but not the object the contract promises
            body = {"error": f"a JSON {type(body).__name__}, not an object"}
        if resp.status_code == 200 and body.get("status") == ReservationOutcome.RESERVED:
            return InventoryAnswer(ReservationOutcome.RESERVED, remaining=body.get("remaining"))
        if resp.status_code == 409 and body.get("reason") == ReservationOutcome.OUT_OF_STOCK:
            return InventoryAnswer(ReservationOutcome.OUT_OF_STOCK, "not enough stock", body.get("remaining"))
        return InventoryAnswer(ReservationOutcome.SERVICE_ERROR,
                               f"inventory answered {resp.status_code}: {body.get('error', '')}".strip())


class NotificationClient:
    def __init__(self, settings: Settings):
        self.url = settings.notification_url.rstrip("/") + "/send"
        self.timeout = (settings.connect_timeout_s, settings.notification_timeout_s)
        self.session = pooled_session(settings.web_threads * 2)

    def send(self, order_id: str, student_id: str, message: str) -> bool:
        """Best-effort: True when sent; any failure is logged and reported as False."""
        with metrics.timed("notification"):
            sent = self._send(order_id, student_id, message)
        if not sent:
            metrics.CALL_ERRORS.labels("notification", "failed").inc()
        return sent

    def _send(self, order_id: str, student_id: str, message: str) -> bool:
        try:
            resp = self.session.post(self.url, json={"order_id": order_id, "student_id": student_id,
                                                     "message": message}, timeout=self.timeout)
        except requests.RequestException as exc:
            log.warning("notification failed: %s", type(exc).__name__)
            return False
        if resp.status_code != 200:
            log.warning("notification failed with HTTP %s", resp.status_code)
        return resp.status_code == 200
