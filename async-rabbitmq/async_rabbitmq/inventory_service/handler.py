"""inventory-service's message handler: OrderPlaced in, a reservation and InventoryReserved/InventoryFailed out.

Guarantee: effectively exactly once per `event_id`. The reservation and the
record "event_id processed, with this outcome and this result event" are one
SQLite transaction (`StockStore.reserve_many`), so a redelivery (crash,
restart, duplicate publish) finds the record, changes no stock and re-publishes
the identical result event (same event_id, so downstream consumers dedupe it).
Poison (not JSON, missing or ill-typed fields, unknown item, oversized) goes
straight to `orders_dlq` with the reason in the `x-reject-reason` header.

Logs: one line per batch with the count of each outcome and the batch's event ids (a line per order cost about
as much as the reservation itself); a duplicate or a poison message also gets a line of its own, the rest one
at DEBUG.
"""
from __future__ import annotations

import logging
from collections import Counter

from async_rabbitmq.messaging import topology
from async_rabbitmq.messaging.amqp import Outgoing
from async_rabbitmq.messaging.consumer import Delivery, Result, dead_letter
from async_rabbitmq.messaging.messages import InventoryResult, Poison, parse_order_placed, result_seed
from common.faults import Faults
from common.logs import bind
from common.metrics import MESSAGES_DUPLICATE, RESERVATIONS
from common.settings import Settings
from common.stock import ReserveRequest, StockStore
from common.vocabulary import ReservationOutcome

log = logging.getLogger("inventory-service")

# FORCE_FAILURE=true: every new order is refused with this reason (as Part A's 5xx maps to it), recorded durably.
FORCED_REASON = ReservationOutcome.SERVICE_ERROR


class InventoryHandler:
    def __init__(self, store: StockStore, settings: Settings, faults: Faults | None = None):
        self.store = store
        self.settings = settings
        self.faults = faults or Faults.from_settings(settings)
        self.stats = {"reserved": 0, "failed": 0, "duplicates": 0, "poison": 0}

    def __call__(self, deliveries: list[Delivery]) -> list[Result]:
        results: dict[int, Result] = {}
        good = []
        for d in deliveries:
            try:
                good.append((d, parse_order_placed(d.body, self.settings.max_message_bytes)))
            except Poison as p:
                self.stats["poison"] += 1
                log.warning("poison message dead-lettered: %s", p.reason,
                            extra={"reason": p.reason, "detail": p.detail, "delivery_tag": d.tag})
                results[d.tag] = Result(d.tag, [dead_letter(d, topology.ORDERS_DLX, topology.INVENTORY_ORDERS,
                                                            p.reason, p.detail)])
        # the part's one place where faults apply: the injected delay per order, then FORCE_FAILURE
        reason = FORCED_REASON if self.faults.inventory(len(good)) else None
        requests = [ReserveRequest(key=o.event_id, item=o.item, quantity=o.quantity, reject_reason=reason,
                                   payload=result_seed(o)) for _, o in good]
        counts = {"reserved": 0, "failed": 0, "duplicates": 0, "poison": len(deliveries) - len(good)}
        outcomes: Counter[str] = Counter()
        for (d, order), res in zip(good, self.store.reserve_many(requests) if requests else [], strict=True):
            event = InventoryResult.for_reservation(order.event_id, res)
            key = topology.RESERVED_KEY if res.outcome == ReservationOutcome.RESERVED else topology.FAILED_KEY
            counts[self._log(order, res, event)] += 1
            if not res.duplicate:
                outcomes[res.outcome] += 1
            results[d.tag] = Result(d.tag, [Outgoing.event(topology.INVENTORY_EVENTS, key, event)])
        # the metrics once per batch and outcome: a labelled counter's lookup costs about as much as a result event
        if counts["duplicates"]:
            MESSAGES_DUPLICATE.labels(topology.INVENTORY_ORDERS).inc(counts["duplicates"])
        for outcome, n in outcomes.items():
            RESERVATIONS.labels(ReservationOutcome(outcome).value).inc(n)
        for outcome in ("reserved", "failed", "duplicates"):
            self.stats[outcome] += counts[outcome]
        log.info("batch of %d: %d reserved, %d not reserved, %d duplicates, %d poison", len(deliveries),
                 counts["reserved"], counts["failed"], counts["duplicates"], counts["poison"],
                 extra={**counts, "event_ids": [o.event_id for _, o in good]})
        return [results[d.tag] for d in deliveries]

    @staticmethod
    def _log(order, res, event) -> str:
        """The outcome's counter; a duplicate (a redelivery: rare, and worth a look) logged on its own line."""
        if res.duplicate:
            with bind(order_id=order.order_id, event_id=order.event_id):
                log.info("duplicate event ignored: already %s, stock unchanged", res.outcome,
                         extra={"result_event_id": event.event_id})
            return "duplicates"
        outcome = "reserved" if res.outcome == ReservationOutcome.RESERVED else "failed"
        if log.isEnabledFor(logging.DEBUG):
            with bind(order_id=order.order_id, event_id=order.event_id):
                if outcome == "reserved":
                    log.debug("reserved %d %s", res.quantity, res.item, extra={"remaining": res.remaining})
                else:
                    log.debug("not reserved: %s", res.reason, extra={"item": res.item, "quantity": res.quantity})
        return outcome
