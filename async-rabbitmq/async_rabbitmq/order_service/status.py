"""order-service's consumer of `inventory_events` (queue `order_status`): moves orders from pending to
confirmed or failed.

Guarantee: at-least-once delivery, idempotent effect: the status update is
committed before the ack, and only a pending order changes (the first final
state wins), so a redelivered or duplicated event changes nothing.
"""
from __future__ import annotations

import logging

from async_rabbitmq.messaging import topology
from async_rabbitmq.messaging.consumer import Delivery, Result, dead_letter
from async_rabbitmq.messaging.messages import Poison, parse_inventory_result
from async_rabbitmq.order_service.store import OrderStore

log = logging.getLogger("order-service")


class StatusHandler:
    def __init__(self, store: OrderStore, max_bytes: int | None = None):
        self.store = store
        self.max_bytes = max_bytes

    def __call__(self, deliveries: list[Delivery]) -> list[Result]:
        results, updates = {}, []
        for d in deliveries:
            try:
                e = parse_inventory_result(d.body, self.max_bytes)
            except Poison as p:
                log.warning("poison event dead-lettered: %s", p.reason, extra={"detail": p.detail})
                results[d.tag] = Result(d.tag, [dead_letter(d, topology.EVENTS_DLX, topology.ORDER_STATUS_QUEUE,
                                                            p.reason, p.detail)])
                continue
            updates.append((e.order_id, e.status, e.reason, e.event_id))
        if updates:
            self.store.apply_results(updates)
        return [results.get(d.tag, Result(d.tag)) for d in deliveries]
