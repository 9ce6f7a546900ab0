"""notification-service: consumes inventory events from `notifications`, records and logs each notification once."""
from __future__ import annotations

from flask import jsonify

from async_rabbitmq.messaging import topology
from async_rabbitmq.messaging.consumer import BatchConsumer
from async_rabbitmq.notification_service.handler import NotificationHandler
from async_rabbitmq.notification_service.store import NotificationStore
from common.logs import setup_logging
from common.process import serve
from common.settings import Settings, get_settings
from common.web import create_base_app

NAME = "notification-service"
PART = "async-rabbitmq"


def build(settings: Settings | None = None, store: NotificationStore | None = None):
    settings = settings or get_settings()
    store = store or NotificationStore(settings.data_path("notifications.db", PART))
    handler = NotificationHandler(store, settings.max_message_bytes)
    consumer = BatchConsumer(settings, topology.NOTIFICATIONS_QUEUE, handler, topology.EVENTS_DLX,
                             name="notification-consumer")
    return create_app(settings, store, handler, consumer), [consumer]


def create_app(settings: Settings, store: NotificationStore, handler=None, consumer=None):
    def health():
        if consumer is not None and not consumer.consuming.is_set() and not consumer.processed:
            raise RuntimeError(f"not consuming {topology.NOTIFICATIONS_QUEUE} yet (waiting for RabbitMQ)")
        return {"consuming": bool(consumer and consumer.consuming.is_set()), "notifications": store.count(),
                "stats": handler.stats if handler else {}}

    app = create_base_app(NAME, settings, health=health)

    @app.get("/notifications/<order_id>")
    def for_order(order_id: str):
        return jsonify({"order_id": order_id, "notifications": store.for_order(order_id)})

    return app


def main() -> int:
    settings = get_settings()
    setup_logging(NAME, settings.log_level, settings.log_format)
    app, workers = build(settings)
    return serve(NAME, app, workers, settings, settings.notification_port)
