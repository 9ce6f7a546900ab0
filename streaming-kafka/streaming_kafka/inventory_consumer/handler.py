"""The inventory consumer's work for a batch of `OrderPlaced` record values, with no Kafka in it.

Idempotency is durable and keyed by `event_id`: the reservation, the result event's own id and its
timestamp are stored in one SQLite transaction (common.stock). A redelivered event (after a crash or a
rebalance) finds its record and yields the byte-identical result event again, without touching stock.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from common.faults import Faults
from common.ids import generate_event_ids
from common.schemas import InvalidInput
from common.stock import Reservation, StockStore
from common.vocabulary import ReservationOutcome
from streaming_kafka.events import (
    InventoryResult,
    inventory_result_bytes,
    now_ms,
    parse_order_placed,
    plain_order_placed,
)

FORCED_FAILURE = ReservationOutcome.FORCED_FAILURE  # the reason of an order refused by force_fail or FORCE_FAILURE


class Action(NamedTuple):
    """What to produce for one input record: a result (`key`, `value`) or a dead letter (`reason`, `detail`).
    A tuple: one per record, made at a fifth of a frozen dataclass's cost."""

    kind: str  # "result" or "dead"
    key: bytes | None = None
    value: bytes | None = None
    reason: str | None = None
    detail: str | None = None
    duplicate: bool = False
    outcome: str | None = None


class InventoryHandler:
    def __init__(self, store: StockStore, faults: Faults | None = None,
                 clock: Callable[[], int] = now_ms, new_id: Callable[[], str] | None = None,
                 max_bytes: int | None = None):
        self.store = store
        self.max_bytes = max_bytes
        self.faults = faults or Faults()
        self.clock = clock
        # the result events' own ids, n at a time (one urandom call per batch); `new_id`: one at a time (tests)
        self.new_ids: Callable[[int], list[str]] = (
            generate_event_ids if new_id is None else lambda n: [new_id() for _ in range(n)])

    def _parse(self, raw: bytes | None) -> tuple | InvalidInput:
        """An order's fields (`plain_order_placed`'s tuple), or why it is poison."""
        fields = plain_order_placed(raw, self.max_bytes)
        if fields is not None:
            return fields
        try:
            o = parse_order_placed(raw, self.max_bytes)
        except InvalidInput as bad:
            return bad
        return o.event_id, o.order_id, o.student_id, o.item, o.quantity, o.force_fail

    def handle(self, values: list[bytes | None]) -> list[Action]:
        """One action per value, in order; all reservations of the batch in one transaction."""
        parsed = [self._parse(raw) for raw in values]
        orders = [p for p in parsed if type(p) is tuple]
        # the part's one place where faults apply: the injected delay per order, then FORCE_FAILURE
        forced = self.faults.inventory(len(orders))
        clock = self.clock
        requests = [  # ReserveRequest's fields, as a plain tuple
            (event_id, item, quantity, FORCED_FAILURE if (force_fail or forced) else None,
             {"event_id": result_id, "ts_ms": clock(), "order_id": order_id, "student_id": student_id})
            for (event_id, order_id, student_id, item, quantity, force_fail), result_id
            in zip(orders, self.new_ids(len(orders)), strict=True)
        ]
        done = iter(zip(orders, self.store.reserve_rows(requests) if requests else [], strict=True))
        actions = []
        for p in parsed:
            if isinstance(p, InvalidInput):
                actions.append(Action("dead", reason=p.code, detail=p.detail[:500]))
                continue
            (event_id, order_id, student_id, item, quantity, _), row = next(done)
            _, _, _, outcome, remaining, reason, duplicate, payload = row
            if duplicate:
                actions.append(_first_result(event_id, order_id, student_id, Reservation(*row)))
                continue
            value = inventory_result_bytes(payload["event_id"], order_id, event_id, student_id, item, quantity,
                                           payload["ts_ms"], outcome, remaining, reason)
            actions.append(Action("result", order_id.encode(), value, None, None, False, outcome))  # positional: cheaper
        return actions


def _first_result(event_id: str, order_id: str, student_id: str, res: Reservation) -> Action:
    """A duplicate's action: the first event's result again, whatever this copy says (same event_id, other body):
    its item and quantity as recorded, its order and student as stored with the record, through the model."""
    assert res.payload is not None  # every request carries one
    order_id = res.payload.get("order_id", order_id)
    result = InventoryResult.of(order_id, event_id, res.payload.get("student_id", student_id), res.item, res.quantity,
                                res)
    return Action("result", key=order_id.encode(), value=result.to_bytes(), duplicate=True, outcome=res.outcome)
