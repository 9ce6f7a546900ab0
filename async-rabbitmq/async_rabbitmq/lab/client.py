"""A client for Part B's running stack, for scenarios and benchmarks: HTTP calls, broker reads, raw publishes.

Broker figures come from the broker itself: queue depths by a passive AMQP
declare (exact, ready messages) and the management HTTP API (ready, unacked,
consumers); raw messages are published with confirms.
"""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pika
import requests

from async_rabbitmq.messaging import topology
from async_rabbitmq.messaging.amqp import blocking_connection
from async_rabbitmq.messaging.messages import DETAIL_HEADER, REASON_HEADER
from async_rabbitmq.messaging.nodes import nodes
from common.menu import ITEMS
from common.settings import Settings
from common.vocabulary import OrderStatus
from labkit.client import StackClient
from labkit.stack import wait_for


class Client(StackClient):
    def __init__(self, settings: Settings):
        super().__init__(settings)
        self.mgmt_url = f"http://{settings.rabbitmq_host}:{settings.rabbitmq_mgmt_port}/api"
        self.auth = (settings.rabbitmq_user, settings.rabbitmq_password)

    # -- HTTP (besides StackClient's: health, stock, reservations, reset_stock) ----------

    def place(self, item: str = "pizza", quantity: int = 1, student: str = "s-lab") -> tuple[int, dict, float]:
        t0 = time.perf_counter()
        r = self.http.post(f"{self.order_url}/order", json={"student_id": student, "item": item,
                                                                   "quantity": quantity}, timeout=10)
        return r.status_code, r.json(), (time.perf_counter() - t0) * 1000

    def post_order(self, body: dict, timeout: float = 10) -> requests.Response:
        """`POST /order` as-is: the raw response, or the requests exception (the chaos ring classifies both)."""
        return self.http.post(f"{self.order_url}/order", json=body, timeout=timeout)

    def place_many(self, n: int, quantity=1, threads: int = 8, items=ITEMS) -> dict:
        """n orders (items round-robin; quantity an int or a function of i), concurrently; ids, statuses, ms."""
        def one(i):
            q = quantity(i) if callable(quantity) else quantity
            status, body, ms = self.place(items[i % len(items)], q, f"s-{i % 97}")
            return status, body.get("order_id"), items[i % len(items)], q, ms
        t0 = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            rows = list(pool.map(one, range(n)))
        secs = time.perf_counter() - t0
        return {"statuses": [r[0] for r in rows], "ids": [r[1] for r in rows],
                "orders": {r[1]: (r[2], r[3]) for r in rows if r[1]}, "ms": [r[4] for r in rows],
                "seconds": secs, "rate": n / secs if secs else 0.0}

    def order(self, order_id: str) -> tuple[int, dict]:
        r = self.http.get(f"{self.order_url}/order/{order_id}", timeout=10)
        return r.status_code, r.json()

    def lookup(self, ids: list[str], chunk: int = 1500) -> dict:
        """Statuses and counts per status of many orders (in chunks: the body limit is 64 KiB)."""
        orders: dict[str, dict] = {}
        counts: dict[str, int] = {}
        for i in range(0, len(ids), chunk):
            r = self.http.post(f"{self.order_url}/orders/lookup", json={"order_ids": ids[i:i + chunk]},
                                     timeout=60)
            r.raise_for_status()
            body = r.json()
            orders.update(body["orders"])
            for k, v in body["counts"].items():
                counts[k] = counts.get(k, 0) + v
        return {"orders": orders, "counts": counts}

    def wait_final(self, ids: list[str], timeout: float = 120) -> dict:
        """Until no order is pending (or timeout): the counts per status."""
        def done():
            counts = self.lookup(ids)["counts"]
            return counts if not counts.get(OrderStatus.PENDING) else None
        try:
            return wait_for(done, timeout, interval=0.25, what=f"{len(ids)} orders to reach a final state")
        except TimeoutError:
            return self.lookup(ids)["counts"]

    def notifications(self, order_id: str) -> list[dict]:
        r = self.http.get(f"{self.notification_url}/notifications/{order_id}", timeout=5)
        return r.json()["notifications"]

    # -- broker ---------------------------------------------------------------------
    def depth(self, queue: str = topology.INVENTORY_ORDERS) -> int:
        """Ready messages in the queue, from the broker (passive declare: exact, no stats delay)."""
        conn = blocking_connection(self.settings)
        try:
            return conn.channel().queue_declare(queue=queue, passive=True).method.message_count
        finally:
            conn.close()

    def mgmt(self, path: str):
        """GET the management API of the first node that answers (on a cluster, any node has the whole view)."""
        last: Exception | None = None
        for node in nodes(self.settings):
            try:
                r = requests.get(f"http://{node.host}:{node.mgmt_port}/api/{path}", auth=self.auth, timeout=3)
                r.raise_for_status()
                return r.json()
            except requests.RequestException as exc:
                last = exc
        raise last or RuntimeError("no broker node configured")

    def queue_info(self, queue: str = topology.INVENTORY_ORDERS) -> dict:
        """The management API's view of a queue (figures refreshed every second). `leader` is the node that
        leads a quorum queue, or the node a classic queue lives on."""
        q = self.mgmt(f"queues/%2F/{queue}")
        info = {k: q.get(k) for k in ("name", "durable", "arguments", "messages", "messages_ready",
                                      "messages_unacknowledged", "consumers")}
        if self.settings.cluster_size > 1:
            # by type: the statistics of a deleted queue of the same name can linger (a stale "leader")
            info |= {"type": q.get("type"), "leader": q.get("leader") if q.get("type") == "quorum" else q.get("node"),
                     "members": q.get("members"), "online": q.get("online"), "state": q.get("state")}
        return info

    def purge(self, queue: str) -> None:
        conn = blocking_connection(self.settings)
        try:
            conn.channel().queue_purge(queue)
        finally:
            conn.close()

    def publish_raw(self, bodies: list[bytes], routing_key: str = topology.ORDER_PLACED_KEY) -> None:
        """Publish bodies to the `orders` exchange as-is (persistent, confirmed): duplicates, poison."""
        conn = blocking_connection(self.settings)
        try:
            ch = conn.channel()
            ch.confirm_delivery()
            for body in bodies:
                ch.basic_publish(topology.ORDERS_EXCHANGE, routing_key, body,
                                 pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent), mandatory=True)
        finally:
            conn.close()

    def take_dead_letters(self, queue: str = topology.ORDERS_DLQ, limit: int = 1000) -> list[dict]:
        """Consume what is in a dead-letter queue: each message's reason header, detail and body head."""
        out = []
        conn = blocking_connection(self.settings)
        try:
            ch = conn.channel()
            while len(out) < limit:
                method, props, body = ch.basic_get(queue, auto_ack=True)
                if method is None:
                    break
                headers = props.headers or {}
                out.append({"reason": headers.get(REASON_HEADER), "detail": headers.get(DETAIL_HEADER),
                            "bytes": len(body), "body": body[:60].decode(errors="replace")})
        finally:
            conn.close()
        return out

    def wait_idle(self, queue: str = topology.INVENTORY_ORDERS, timeout: float = 60) -> None:
        """Until the queue holds nothing, ready or unacked (management figures)."""
        def idle():
            q = self.queue_info(queue)
            return q["messages"] == 0 and self.depth(queue) == 0
        wait_for(idle, timeout, interval=0.5, what=f"{queue} to be empty")

    def log_lines(self, stack, service: str, needle: str, lines: int = 20000) -> list[dict]:
        found = []
        for line in stack.logs(service, lines).splitlines():
            if needle in line:
                try:
                    found.append(json.loads(line))
                except ValueError:
                    found.append({"msg": line})
        return found
