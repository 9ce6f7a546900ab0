"""Part A's lab client: what a student's script does against the running stack (POST orders, read stock), timing
each call. The scenarios, the tests and the comparison drive the stack through it."""
from __future__ import annotations

import time
from dataclasses import dataclass

import requests

from labkit.client import StackClient


@dataclass
class Call:
    n: int
    status: int
    state: str
    reason: str | None
    ms: float
    order_id: str | None = None
    circuit: str | None = None
    replayed: bool = False
    notification: str | None = None


class Client(StackClient):
    """What a student's script does: POST orders and read stock, timing each call."""

    timeout_s = 5.0

    def order(self, n: int, item: str = "pizza", quantity: int = 1, key: str | None = None,
              session: requests.Session | None = None, student: str | None = None) -> Call:
        headers = {"Idempotency-Key": key} if key else {}
        t0 = time.perf_counter()
        resp = (session or self.http).post(f"{self.order_url}/order", headers=headers, timeout=30,
                                              json={"student_id": student or f"student-{n}", "item": item, "quantity": quantity})
        ms = (time.perf_counter() - t0) * 1000
        body = resp.json()
        return Call(n, resp.status_code, body.get("status", body.get("error", "?")), body.get("reason"), ms,
                    body.get("order_id"), resp.headers.get("X-Circuit-State") or body.get("circuit"),
                    resp.headers.get("Idempotent-Replayed") == "true", body.get("notification"))
