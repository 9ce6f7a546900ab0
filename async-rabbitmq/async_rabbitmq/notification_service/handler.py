"""notification-service's handler: one notification per inventory event.

Guarantee: at-least-once delivery, effectively once per `event_id`: the
notification is recorded (INSERT OR IGNORE on the event id) in SQLite before
the ack, and logged only when it is new, so a redelivered or re-published
event is acknowledged without a second notification.

Logs: one line per batch (how many sent, duplicates, poison, and the event ids sent); each notification's text
at DEBUG (a line per message cost more than recording it); a duplicate or a poison message on a line of its own.
"""
from __future__ import annotations

import logging

from async_rabbitmq.messaging import topology
from async_rabbitmq.messaging.consumer import Delivery, Result, dead_letter
from async_rabbitmq.messaging.messages import INVENTORY_RESERVED, Poison, parse_inventory_result
from async_rabbitmq.notification_service.store import NotificationStore
from common.logs import bind

log = logging.getLogger("notification-service")


def message_for(event) -> str:
    if event.event_type == INVENTORY_RESERVED:
        return f"Your order {event.order_id} is confirmed: {event.quantity} x {event.item}."
    return f"Sorry, your order {event.order_id} could not be fulfilled ({event.reason})."


class NotificationHandler:
    def __init__(self, store: NotificationStore, max_bytes: int | None = None):
        self.store = store
        self.max_bytes = max_bytes
        self.stats = {"sent": 0, "duplicates": 0, "poison": 0}

    def __call__(self, deliveries: list[Delivery]) -> list[Result]:
        results, events = {}, []
        for d in deliveries:
            try:
                events.append(parse_inventory_result(d.body, self.max_bytes))
            except Poison as p:
                self.stats["poison"] += 1
                log.warning("poison event dead-lettered: %s", p.reason, extra={"detail": p.detail})
                results[d.tag] = Result(d.tag, [dead_letter(d, topology.EVENTS_DLX, topology.NOTIFICATIONS_QUEUE,
                                                            p.reason, p.detail)])
        notes = [{"event_id": e.event_id, "order_id": e.order_id, "student_id": e.student_id,
                  "kind": e.event_type, "message": message_for(e)} for e in events]
        fresh = self.store.record_many(notes) if notes else []
        sent = [note for note, new in zip(notes, fresh, strict=True) if new]
        debug = log.isEnabledFor(logging.DEBUG)
        for note, new in zip(notes, fresh, strict=True):
            if not new or debug:
                with bind(order_id=note["order_id"], event_id=note["event_id"]):
                    if new:
                        log.debug("notification sent to %s: %s", note["student_id"], note["message"])
                    else:
                        log.info("duplicate event ignored: already notified")
        counts = {"sent": len(sent), "duplicates": len(notes) - len(sent), "poison": len(deliveries) - len(notes)}
        self.stats["sent"] += counts["sent"]
        self.stats["duplicates"] += counts["duplicates"]
        log.info("batch of %d: %d notifications sent, %d duplicates, %d poison", len(deliveries), counts["sent"],
                 counts["duplicates"], counts["poison"], extra={**counts, "event_ids": [n["event_id"] for n in sent]})
        return [results.get(d.tag, Result(d.tag)) for d in deliveries]
