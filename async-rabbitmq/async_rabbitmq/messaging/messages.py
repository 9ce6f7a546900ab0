"""The messages of Part B, as data: one model per event (`OrderPlaced`, `InventoryResult`) that both builds
(`Model.new(...)`/`.to_bytes()`) and parses (`parse_...`) it; poison raises `Poison` with a reason.

Pure: no pika here, so every rule is unit-tested without a broker.
"""
from __future__ import annotations

import json
import time
from typing import Final, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common import schemas
from common.ids import generate_event_id
from common.schemas import InvalidInput, ItemQuantity, describe
from common.stock import Reservation
from common.vocabulary import OrderStatus, ReservationOutcome

ORDER_PLACED: Final = "OrderPlaced"
INVENTORY_RESERVED: Final = "InventoryReserved"
INVENTORY_FAILED: Final = "InventoryFailed"

# Dead-letter headers set by our consumers (RabbitMQ's own x-death header says only "rejected").
REASON_HEADER = "x-reject-reason"
DETAIL_HEADER = "x-reject-detail"
_REASONS = {"invalid_json": "not_json"}  # the shared decoder's codes that Part B names its own way


class Poison(ValueError):
    """A message that can never be processed: dead-letter it with `reason` (a short code) and `detail`."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class OrderPlaced(ItemQuantity):
    """Required for processing: event_id, order_id, item, quantity (strict types: "2" is not 2); the item and
    quantity rules are the HTTP API's (`common.schemas.ItemQuantity`)."""

    event_type: Literal["OrderPlaced"] = ORDER_PLACED
    event_id: str = Field(min_length=1, max_length=128)
    order_id: str = Field(min_length=1, max_length=128)
    student_id: str | None = Field(None, max_length=64)
    timestamp: float | int | str | None = None

    @classmethod
    def new(cls, *, order_id: str, student_id: str, item: str, quantity: int) -> OrderPlaced:
        """A new order's event: its own event_id, stamped now."""
        return cls(event_id=generate_event_id(), order_id=order_id, student_id=student_id, item=item,
                   quantity=quantity, timestamp=time.time())

    def to_dict(self) -> dict:
        """The wire's fields, in the wire's order."""
        return {"event_type": self.event_type, "event_id": self.event_id, "order_id": self.order_id,
                "student_id": self.student_id, "item": self.item, "quantity": self.quantity,
                "timestamp": self.timestamp}

    def to_bytes(self) -> bytes:
        # json.dumps, not orjson: the outbox has always held this encoding (ASCII, ", " and ": " separators)
        return json.dumps(self.to_dict()).encode()


class InventoryResult(BaseModel):
    """`InventoryReserved` (with `remaining`) or `InventoryFailed` (with `reason`): the outcome of one order."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)
    event_type: Literal["InventoryReserved", "InventoryFailed"]
    event_id: str = Field(min_length=1, max_length=128)
    order_id: str = Field(min_length=1, max_length=128)
    causation_id: str | None = None  # the OrderPlaced event's id
    student_id: str | None = None
    item: str | None = None
    quantity: int | None = None
    timestamp: float | int | str | None = None
    remaining: int | None = None
    reason: str | None = None

    @property
    def status(self) -> OrderStatus:
        return OrderStatus.CONFIRMED if self.event_type == INVENTORY_RESERVED else OrderStatus.FAILED

    @classmethod
    def for_reservation(cls, order_event_id: str, res: Reservation) -> InventoryResult:
        """The result event of a reservation; its id, order and time come from `res.payload` (the `result_seed`
        stored with the reservation), so a redelivery re-publishes the very same event."""
        seed = res.payload
        assert seed is not None
        ok = res.outcome == ReservationOutcome.RESERVED
        # model_validate of a dict: the same checks as cls(...), without the keyword packing (a consumer's hot path)
        return cls.model_validate({
            "event_type": INVENTORY_RESERVED if ok else INVENTORY_FAILED, "event_id": seed["event_id"],
            "order_id": seed["order_id"], "causation_id": order_event_id, "student_id": seed.get("student_id"),
            "item": res.item, "quantity": res.quantity, "timestamp": seed["timestamp"],
            "remaining": res.remaining if ok else None, "reason": None if ok else res.reason})

    def to_dict(self) -> dict:
        """The wire's fields, in the wire's order: `remaining` on a reservation, `reason` on a refusal."""
        event = {"event_type": self.event_type, "event_id": self.event_id, "order_id": self.order_id,
                 "causation_id": self.causation_id, "student_id": self.student_id, "item": self.item,
                 "quantity": self.quantity, "timestamp": self.timestamp}
        if self.event_type == INVENTORY_RESERVED:
            event["remaining"] = self.remaining
        else:
            event["reason"] = self.reason
        return event

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.to_dict())


def decode_json(body: bytes, max_bytes: int | None = None) -> dict:
    """`common.schemas.decode_json` (the one decoder of every part's consumers: same size and depth limits),
    with Part B's reason codes."""
    try:
        data = schemas.decode_json(body, max_bytes)
    except InvalidInput as err:
        raise Poison(_REASONS.get(err.code, err.code), err.detail) from None
    if not isinstance(data, dict):
        raise Poison("not_an_object", f"the body is JSON but a {type(data).__name__}, not an object")
    return data


def _validate(model, data: dict):
    try:
        return model.model_validate(data)
    except RecursionError:
        raise Poison("too_deep", "a field is nested deeper than the validator allows") from None
    except ValidationError as err:
        kinds = {e["type"] for e in err.errors()}
        if "missing" in kinds:
            reason = "missing_field"
        elif any(e["loc"] == ("item",) and e["type"] == "value_error" for e in err.errors()):
            reason = "unknown_item"
        else:
            reason = "invalid_field"
        raise Poison(reason, describe(err)) from None


def parse_order_placed(body: bytes, max_bytes: int | None = None) -> OrderPlaced:
    return _validate(OrderPlaced, decode_json(body, max_bytes))


def parse_inventory_result(body: bytes, max_bytes: int | None = None) -> InventoryResult:
    return _validate(InventoryResult, decode_json(body, max_bytes))


def result_seed(order: OrderPlaced) -> dict:
    """What is stored with a reservation so a redelivery re-publishes the very same result event (same event_id)."""
    return {"event_id": generate_event_id(), "order_id": order.order_id, "student_id": order.student_id,
            "timestamp": time.time()}
