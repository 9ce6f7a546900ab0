"""order-service: `POST /order` (202, stored with its outbox record), `GET /order/<id>`, `GET /orders`,
`POST /orders/lookup`.

`python -m async_rabbitmq.order_service` runs gunicorn (gthread, HTTP keep-alive) with one
worker process holding: the HTTP threads, the outbox relay thread (publishes
OrderPlaced with confirms) and the `order_status` consumer thread (applies
InventoryReserved/InventoryFailed). The HTTP side never touches the broker, so
orders are accepted while RabbitMQ is down.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from urllib.parse import urlencode

from flask import jsonify, request

from async_rabbitmq.messaging import topology
from async_rabbitmq.messaging.consumer import BatchConsumer
from async_rabbitmq.messaging.messages import OrderPlaced
from async_rabbitmq.order_service.broker_figures import queue_figures
from async_rabbitmq.order_service.relay import OutboxRelay
from async_rabbitmq.order_service.status import StatusHandler
from async_rabbitmq.order_service.store import MAX_LIST, OrderStore
from common.ids import generate_order_id
from common.logs import bind
from common.metrics import add_collector, count_order, gauge, gauges
from common.process import gunicorn_argv
from common.schemas import InvalidInput, parse_order
from common.settings import Settings, get_settings
from common.vocabulary import OrderStatus
from common.web import create_base_app, error, json_body

NAME = "order-service"
PART = "async-rabbitmq"
MAX_LOOKUP = 2_000
LIST_DEFAULT = 50
STATUSES = (OrderStatus.PENDING, OrderStatus.CONFIRMED, OrderStatus.FAILED)  # what an order of this part can be
log = logging.getLogger(NAME)


def build(settings: Settings | None = None, store: OrderStore | None = None):
    """The composition root: store, relay, status consumer, and the HTTP app over them."""
    settings = settings or get_settings()
    store = store or OrderStore(settings.data_path("orders.db", PART), retry_max_s=settings.outbox_retry_max_s)
    relay = OutboxRelay(settings, store)
    status = BatchConsumer(settings, topology.ORDER_STATUS_QUEUE, StatusHandler(store, settings.max_message_bytes),
                           topology.EVENTS_DLX, name="status-consumer")
    return create_app(settings, store, relay, status, queue_figures(settings)), [relay, status]


def create_app(settings: Settings, store: OrderStore, relay=None, status=None, broker_figures=None):
    """`broker_figures`: a scrape-time collector of the queue depths (`broker_figures.queue_figures`)."""
    def health():
        return {"broker_connected": bool(relay and relay.connected.is_set()),
                "status_consuming": bool(status and status.consuming.is_set()),
                "outbox_backlog": store.outbox_backlog(), "published": relay.published if relay else 0,
                # Returned by the broker (no queue bound to `orders`): held in the outbox and retried, never lost.
                "unroutable": relay.unroutable if relay else 0, "outbox_unroutable": store.unroutable_count()}

    app = create_base_app(NAME, settings, health=health)
    add_collector(app, lambda: store_figures(store))
    if broker_figures is not None:
        add_collector(app, broker_figures)

    @app.post("/order")
    def place_order():
        order = parse_order(json_body())
        order_id = generate_order_id()
        with bind(order_id=order_id):
            event = OrderPlaced.new(order_id=order_id, student_id=order.student_id, item=order.item,
                                    quantity=order.quantity)
            store.place(event, topology.ORDER_PLACED_KEY)
            log.info("order accepted", extra={"event_id": event.event_id, "item": order.item,
                                              "quantity": order.quantity})
        count_order(OrderStatus.PENDING)
        if relay is not None:
            relay.notify()
        return jsonify({"order_id": order_id, "status": OrderStatus.PENDING, "event_id": event.event_id,
                        "item": order.item, "quantity": order.quantity}), 202

    @app.get("/order/<path:order_id>")
    def get_order(order_id: str):
        doc = store.get(order_id) if len(order_id) <= 128 else None
        if doc is None:
            return error(404, "not_found", f"no order {order_id[:128]!r}")
        return jsonify(doc)

    @app.get("/orders")
    def list_orders():
        """The original lab's client reads `r.json().values()` and each value's `status`: an object keyed by order
        id, newest first, each value with `status`, `item`, `quantity` and `qty`. Paging narrows that object:
        `limit` (1-1000, default 50), `status` (pending|confirmed|failed), `before` (an order id: the orders
        older than it); a full page names the next one in a `Link: </orders?...>; rel="next"` header."""
        raw_limit = request.args.get("limit", str(LIST_DEFAULT))
        if not (raw_limit.isascii() and raw_limit.isdigit() and 1 <= int(raw_limit) <= MAX_LIST):
            raise InvalidInput("validation_error", f"limit: an integer from 1 to {MAX_LIST}")
        status = request.args.get("status")
        if status is not None and status not in STATUSES:
            raise InvalidInput("validation_error", f"status: one of {', '.join(STATUSES)}")
        before = request.args.get("before")
        if before is not None and not 1 <= len(before) <= 128:
            raise InvalidInput("validation_error", "before: an order id (1-128 characters)")
        limit = int(raw_limit)
        orders = store.newest(limit, before, status)
        if orders is None:
            return error(404, "not_found", f"no order {before!r} to continue after")
        resp = jsonify({o["order_id"]: {**o, "qty": o["quantity"]} for o in orders})
        if len(orders) == limit:  # there may be more (the last page may be empty)
            query = urlencode({"limit": limit, **({"status": status} if status else {}),
                               "before": orders[-1]["order_id"]})
            resp.headers["Link"] = f'</orders?{query}>; rel="next"'
        return resp

    @app.post("/orders/lookup")
    def lookup():
        """Many statuses at once (scenarios, comparisons): {"order_ids": [...]} -> statuses and counts."""
        body = json_body()
        ids = body.get("order_ids") if isinstance(body, dict) else None
        if not (isinstance(ids, list) and len(ids) <= MAX_LOOKUP and all(isinstance(i, str) for i in ids)):
            raise InvalidInput("validation_error", f"order_ids: a list of at most {MAX_LOOKUP} strings")
        found = store.statuses(ids)
        counts: dict[str, int] = {}
        for oid in ids:
            state = found.get(oid, {}).get("status", OrderStatus.UNKNOWN)  # no such order
            counts[state] = counts.get(state, 0) + 1
        return jsonify({"orders": found, "counts": counts})

    @app.get("/orders/counts")
    def counts():
        return jsonify({"counts": store.counts(), "outbox_backlog": store.outbox_backlog()})

    return app


def store_figures(store: OrderStore):
    """Read from the store at each scrape, so every worker answers the same: orders by status, the outbox."""
    counts = store.counts()
    yield gauges("orders_by_status", "Orders stored, by their current status", "status",
                 {s.value: counts.get(s, 0) for s in STATUSES})
    yield gauge("outbox_pending", "Outbox records not yet confirmed by the broker", store.outbox_backlog())
    yield gauge("outbox_unroutable", "Outbox records the broker returned (no queue bound), waiting for a retry",
                store.unroutable_count())
    oldest = store.oldest_unpublished_at()
    yield gauge("outbox_oldest_age_seconds", "Age of the oldest record still in the outbox (0 when empty)",
                max(0.0, time.time() - oldest) if oldest is not None else 0.0)


def main() -> int:
    """`python -m async_rabbitmq.order_service`: exec gunicorn, one worker (one relay, one status consumer), many threads."""
    settings = get_settings()
    os.execv(sys.executable, gunicorn_argv(__name__, settings.bind_host, settings.order_port, 1, settings.web_threads))
