"""Part C producer-order: `POST /order` (one `OrderPlaced`, 202) and `POST /bulk` (N events, timed)."""
from __future__ import annotations

import atexit
import logging

from events import now_ms, order_placed, parse_bulk
from flask import jsonify
from kafka.errors import KafkaError

from common.ids import generate_event_id, generate_order_id
from common.logs import bind, setup_logging
from common.schemas import parse_order
from common.settings import Settings, get_settings
from common.web import create_base_app, error, json_body

from .publisher import OrderPublisher

NAME = "producer-order"
log = logging.getLogger(NAME)


def create_app(settings: Settings | None = None, publisher: OrderPublisher | None = None):
    settings = settings or get_settings()
    setup_logging(NAME, settings.log_level, settings.log_format)
    publisher = publisher or OrderPublisher(settings)
    atexit.register(publisher.close)
    app = create_base_app(NAME, settings, health=lambda: {"kafka": settings.kafka_bootstrap})

    @app.post("/order")
    def order():
        req = parse_order(json_body())
        order_id, event_id = generate_order_id(), generate_event_id()
        event = order_placed(order_id, event_id, req.student_id, req.item, req.quantity, now_ms())
        with bind(order_id=order_id, event_id=event_id):
            try:
                publisher.publish(event)
            except KafkaError as exc:
                log.error("publish failed: %s", exc)
                return error(503, "broker_unavailable", f"Kafka did not confirm the event: {type(exc).__name__}",
                             order_id=order_id, status="failed")
            log.info("OrderPlaced published", extra={"item": req.item, "quantity": req.quantity})
        return jsonify({"order_id": order_id, "event_id": event_id, "status": "pending",
                        "item": req.item, "quantity": req.quantity}), 202

    @app.post("/bulk")
    def bulk():
        req = parse_bulk(json_body(), settings.bulk_max)
        try:
            result = publisher.publish_bulk(req)
        except KafkaError as exc:
            log.error("bulk publish failed: %s", exc)
            return error(503, "broker_unavailable", f"Kafka did not confirm every event: {type(exc).__name__}")
        log.info("bulk published", extra=result)
        return jsonify(result), 200

    return app
