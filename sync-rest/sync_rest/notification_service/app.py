"""Part A notification-service: `POST /send` logs a confirmation; best-effort from the order service's view."""
from __future__ import annotations

import logging
import threading

from flask import jsonify
from pydantic import BaseModel, ConfigDict, Field

from common.faults import Faults
from common.logs import bind
from common.schemas import validate
from common.settings import Settings, get_settings
from common.web import create_base_app, error, json_body

NAME = "notification-service"
log = logging.getLogger(NAME)


class Notification(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")
    order_id: str = Field(min_length=1, max_length=128)
    student_id: str = Field(min_length=1, max_length=64)
    message: str = Field(min_length=1, max_length=1000)


def build(settings: Settings | None = None, faults: Faults | None = None):
    """The composition root (the same shape in every part): the HTTP app over the fault switches, and no
    background workers."""
    settings = settings or get_settings()
    return create_app(settings, faults or Faults.from_settings(settings)), []


def create_app(settings: Settings, faults: Faults):
    sent = {"count": 0}
    lock = threading.Lock()
    app = create_base_app(NAME, settings, health=lambda: {"sent": sent["count"]})

    @app.post("/send")
    def send():
        note = validate(Notification, json_body())
        with bind(order_id=note.order_id):
            if faults.notification():  # NOTIFICATION_FORCE_FAILURE
                return error(500, "forced_failure", "notification is configured to fail")
            with lock:
                sent["count"] += 1
            log.info("notification sent to %s: %s", note.student_id, note.message)
        return jsonify({"status": "sent", "order_id": note.order_id})

    return app
