"""One adapter per pattern, so the workload in `measure.py` is written once.

Each adapter places an order as a client would, tells an order's final outcome when it is known, reads the
backlog the pattern keeps while inventory is away (none, queue depth, consumer lag) and tries to recompute
history. Adapters use their part's own package (`async_rabbitmq.lab.client`, `streaming_kafka.lag`, ...).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import requests

from async_rabbitmq.lab.client import Client
from common.menu import ITEMS, uniform_stock
from common.settings import Settings
from common.vocabulary import OrderStatus
from labkit.client import StackClient
from streaming_kafka.analytics_consumer.worker import replay
from streaming_kafka.lag import consumer_lag, total_lag

FINAL = (OrderStatus.CONFIRMED, OrderStatus.FAILED)


@dataclass
class Placed:
    status: int
    order_id: str | None
    ms: float
    accepted: bool  # the client was told the order is taken (201 or 202)
    final: str | None  # known at once (sync) or later (async, streaming)


class Pattern(StackClient):
    part = ""
    label = ""
    inventory = "inventory-service"
    timeout_s = 30.0
    default_stock = dict(uniform_stock(10**8))  # the whole menu: the load orders every item, fries included

    def place(self, i: int, session: requests.Session | None = None) -> Placed:
        t0 = time.perf_counter()
        r = (session or self.http).post(f"{self.order_url}/order", timeout=30, json={
            "student_id": f"cmp-{i % 50}", "item": ITEMS[i % len(ITEMS)], "quantity": 1})
        ms = (time.perf_counter() - t0) * 1000
        body = r.json()
        return Placed(r.status_code, body.get("order_id"), ms, r.status_code in (201, 202), self._final_now(r.status_code))

    def _final_now(self, status: int) -> str | None:
        return None

    def final(self, order_id: str) -> str | None:
        raise NotImplementedError

    def backlog(self) -> int | None:
        return None

    def replay(self, orders_sent: int) -> dict:
        raise NotImplementedError


class SyncRest(Pattern):
    part, label = "sync-rest", "Sync REST"

    def _final_now(self, status: int) -> str | None:
        return OrderStatus.CONFIRMED if status == 201 else OrderStatus.FAILED

    def final(self, order_id: str) -> str | None:
        return None  # known from the response only

    def replay(self, orders_sent: int) -> dict:
        # Nothing keeps the requests: the only history is inventory's reservation table (state, not events).
        return {"possible": False, "events_available": 0, "orders_sent": orders_sent,
                "how": "no event log: requests are answered and gone"}


class AsyncRabbit(Pattern):
    part, label = "async-rabbitmq", "Async RabbitMQ"

    def __init__(self, settings: Settings):
        super().__init__(settings)
        self.lab = Client(settings)

    def final(self, order_id: str) -> str | None:
        status, body = self.lab.order(order_id)
        return body.get("status") if status == 200 and body.get("status") in FINAL else None

    def backlog(self) -> int | None:
        return self.lab.depth()

    def replay(self, orders_sent: int) -> dict:
        # A queue forgets what it delivered: after the run, what is left to re-read is the queue's depth.
        left = self.lab.depth()
        return {"possible": False, "events_available": left, "orders_sent": orders_sent,
                "how": f"inventory_orders holds {left} messages after the run: acked messages are deleted"}


class StreamingKafka(Pattern):
    part, label = "streaming-kafka", "Streaming Kafka"
    inventory = "inventory-consumer"

    def __init__(self, settings: Settings):
        super().__init__(settings)
        self.analytics_url = self.notification_url

    def final(self, order_id: str) -> str | None:
        r = self.http.get(f"{self.analytics_url}/order/{order_id}", timeout=10)
        status = r.json().get("status") if r.status_code == 200 else None
        return status if status in FINAL else None

    def backlog(self) -> int | None:
        return total_lag(consumer_lag(self.settings, "inventory-group"))

    def lag_by_group(self) -> dict[str, int]:
        return {g: total_lag(consumer_lag(self.settings, g)) for g in ("inventory-group", "analytics-group")}

    def replay(self, orders_sent: int) -> dict:
        live = self.http.get(f"{self.analytics_url}/metrics", timeout=30).json()
        result = replay(self.settings)
        m = result.metrics
        return {"possible": True, "events_available": result.events, "orders_sent": orders_sent,
                "replayed_orders": m["total_orders_seen"], "live_orders": live["total_orders_seen"],
                "equal_to_live": {k: m[k] for k in ("total_orders_seen", "total_reserved", "total_failed")}
                == {k: live[k] for k in ("total_orders_seen", "total_reserved", "total_failed")},
                "seconds": round(result.seconds, 3), "group": result.group,
                "how": "a fresh consumer group re-reads both topics from the earliest offset"}


PATTERNS = {p.part: p for p in (SyncRest, AsyncRabbit, StreamingKafka)}
