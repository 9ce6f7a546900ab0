"""Part C producer-order: `POST /order` (one `OrderPlaced`, 202; optional `Idempotency-Key`) and `POST /bulk`."""
from __future__ import annotations

import logging

from flask import g, jsonify, request

from common.idempotency import IdempotencyStore, valid_key
from common.metrics import EVENTS_PRODUCED, add_collector, count_order
from common.process import OnStop
from common.schemas import InvalidInput, parse_order
from common.settings import Settings, get_settings
from common.vocabulary import OrderStatus
from common.web import create_base_app, error, json_body
from streaming_kafka.events import parse_bulk
from streaming_kafka.producer_order.lag_figures import LagFigures
from streaming_kafka.producer_order.orders import OrderDesk
from streaming_kafka.producer_order.publisher import BulkIncomplete, OrderPublisher
from streaming_kafka.topology import ORDER_TOPIC

NAME = "producer-order"
log = logging.getLogger(NAME)


def build_desk(settings: Settings, publisher: OrderPublisher) -> OrderDesk:
    timeout = settings.kafka_publish_timeout_s
    keys = IdempotencyStore(settings.data_path("producer.db", "streaming-kafka"), stale_after_s=timeout + 30)
    return OrderDesk(publisher, keys, timeout)


def build(settings: Settings | None = None, publisher: OrderPublisher | None = None):
    """The composition root (the same shape in every part): the HTTP app, and a worker that closes the Kafka
    producer (flushing what it holds) when the process stops."""
    settings = settings or get_settings()
    publisher = publisher or OrderPublisher(settings)
    app = create_app(settings, publisher, build_desk(settings, publisher), lag=LagFigures(settings))
    return app, [OnStop("kafka-producer", publisher.close)]


def create_app(settings: Settings, publisher: OrderPublisher, desk: OrderDesk, lag=None):
    """`lag`: a scrape-time collector of the consumer groups' lag (`lag_figures.LagFigures`)."""
    app = create_base_app(NAME, settings, health=lambda: {"kafka": settings.kafka_bootstrap})
    if lag is not None:
        add_collector(app, lag)

    @app.post("/order")
    def order():
        key = request.headers.get("Idempotency-Key")
        if not valid_key(key):
            raise InvalidInput("invalid_idempotency_key", "Idempotency-Key must be 1-255 printable characters")
        reply = desk.place(parse_order(json_body()), key)
        g.order_id, g.event_id = reply.body.get("order_id"), reply.body.get("event_id")
        if "status" in reply.body:  # an order's answer (not an Idempotency-Key refusal)
            count_order(reply.body["status"], reply.body.get("error"))
        if reply.status == 202:
            EVENTS_PRODUCED.labels(ORDER_TOPIC).inc()
        resp = jsonify(reply.body)
        resp.status_code = reply.status
        resp.headers.update(reply.headers)
        return resp

    @app.post("/bulk")
    def bulk():
        req = parse_bulk(json_body(), settings.bulk_max)
        try:
            result = publisher.publish_bulk(req)
        except BulkIncomplete as exc:
            log.error("bulk stopped: %s", exc.cause, extra={"confirmed": exc.confirmed, "unconfirmed": exc.unconfirmed})
            count_order(OrderStatus.PENDING, n=exc.confirmed)
            EVENTS_PRODUCED.labels(ORDER_TOPIC).inc(exc.confirmed)
            counts = {"requested": exc.requested, "published": exc.confirmed, "confirmed": exc.confirmed,
                      "unconfirmed": exc.unconfirmed, "not_sent": exc.not_sent, "seconds": exc.seconds}
            if exc.unconfirmed:
                return error(504, "delivery_unknown",
                             f"Kafka failed during the bulk ({type(exc.cause).__name__}): {exc.confirmed} events"
                             f" acknowledged, {exc.unconfirmed} sent without acknowledgement (they may still be"
                             f" written and processed), {exc.not_sent} not sent", status="incomplete", **counts)
            return error(503, "broker_unavailable",
                         f"Kafka is unreachable ({type(exc.cause).__name__}): {exc.confirmed} events acknowledged,"
                         f" {exc.not_sent} not sent", status="incomplete", **counts)
        log.info("bulk published", extra=result)
        count_order(OrderStatus.PENDING, n=result["published"])
        EVENTS_PRODUCED.labels(ORDER_TOPIC).inc(result["published"])
        return jsonify(result), 200

    return app
