"""The inventory consumer's work for a batch of `OrderPlaced` record values, with no Kafka in it.

Idempotency is durable and keyed by `event_id`: the reservation, the result event's own id and its
timestamp are stored in one SQLite transaction (common.stock). A redelivered event (after a crash or a
rebalance) finds its record and yields the byte-identical result event again, without touching stock.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from common.faults import Faults
from common.ids import generate_event_id
from common.schemas import InvalidInput
from common.stock import ReserveRequest, StockStore
from common.vocabulary import ReservationOutcome
from streaming_kafka.events import InventoryResult, now_ms, parse_order_placed

FORCED_FAILURE = ReservationOutcome.FORCED_FAILURE  # the reason of an order refused by force_fail or FORCE_FAILURE


@dataclass(frozen=True)
class Action:
    """What to produce for one input record: a result (`key`, `value`) or a dead letter (`reason`, `detail`)."""

    kind: str  # "result" or "dead"
    key: bytes | None = None
    value: bytes | None = None
    reason: str | None = None
    detail: str | None = None
    duplicate: bool = False
    outcome: str | None = None


class InventoryHandler:
    def __init__(self, store: StockStore, faults: Faults | None = None,
                 clock: Callable[[], int] = now_ms, new_id: Callable[[], str] = generate_event_id,
                 max_bytes: int | None = None):
        self.store = store
        self.max_bytes = max_bytes
        self.faults = faults or Faults()
        self.clock = clock
        self.new_id = new_id

    def handle(self, values: list[bytes | None]) -> list[Action]:
        """One action per value, in order; all reservations of the batch in one transaction."""
        parsed: list = []
        for raw in values:
            try:
                parsed.append(parse_order_placed(raw, self.max_bytes))
            except InvalidInput as bad:
                parsed.append(bad)
        orders = [p for p in parsed if not isinstance(p, InvalidInput)]
        # the part's one place where faults apply: the injected delay per order, then FORCE_FAILURE
        forced = self.faults.inventory(len(orders))
        requests = [
            ReserveRequest(key=o.event_id, item=o.item, quantity=o.quantity,
                           reject_reason=FORCED_FAILURE if (o.force_fail or forced) else None,
                           payload={"event_id": self.new_id(), "ts_ms": self.clock(), "order_id": o.order_id,
                                    "student_id": o.student_id})
            for o in orders
        ]
        done = iter(zip(orders, self.store.reserve_many(requests) if requests else [], strict=True))
        actions = []
        for p in parsed:
            if isinstance(p, InvalidInput):
                actions.append(Action("dead", reason=p.code, detail=p.detail[:500]))
                continue
            order, res = next(done)
            assert res.payload is not None  # every request carries one, a duplicate the first one's
            if res.duplicate:  # the first event's result again, whatever this copy says (same event_id, other body)
                order = order.model_copy(update={"item": res.item, "quantity": res.quantity,
                                                 "order_id": res.payload.get("order_id", order.order_id),
                                                 "student_id": res.payload.get("student_id", order.student_id)})
            actions.append(Action("result", key=order.order_id.encode(),
                                  value=InventoryResult.for_reservation(order, res).to_bytes(),
                                  duplicate=res.duplicate, outcome=res.outcome))
        return actions
