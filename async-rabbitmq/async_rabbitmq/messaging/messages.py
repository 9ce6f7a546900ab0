"""The messages of Part B, as data: building events and parsing what arrives (poison raises `Poison` with a reason).

Pure: no pika here, so every rule is unit-tested without a broker.
"""
from __future__ import annotations

import time
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common import schemas
from common.ids import generate_event_id
from common.schemas import InvalidInput, ItemQuantity, describe
from common.vocabulary import OrderStatus

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


class InventoryEvent(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)
    event_type: Literal["InventoryReserved", "InventoryFailed"]
    event_id: str = Field(min_length=1, max_length=128)
    order_id: str = Field(min_length=1, max_length=128)
    student_id: str | None = None
    item: str | None = None
    quantity: int | None = None
    reason: str | None = None

    @property
    def status(self) -> OrderStatus:
        return OrderStatus.CONFIRMED if self.event_type == INVENTORY_RESERVED else OrderStatus.FAILED


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


def parse_inventory_event(body: bytes, max_bytes: int | None = None) -> InventoryEvent:
    return _validate(InventoryEvent, decode_json(body, max_bytes))


def order_placed(order_id: str, student_id: str, item: str, quantity: int) -> dict:
    return {"event_type": ORDER_PLACED, "event_id": generate_event_id(), "order_id": order_id,
            "student_id": student_id, "item": item, "quantity": quantity, "timestamp": time.time()}


def result_seed(order: OrderPlaced) -> dict:
    """What is stored with a reservation so a redelivery re-publishes the very same result event (same event_id)."""
    return {"event_id": generate_event_id(), "order_id": order.order_id, "student_id": order.student_id,
            "timestamp": time.time()}


def inventory_result(order_event_id: str, item: str, quantity: int, outcome_ok: bool, reason: str | None,
                     remaining: int | None, seed: dict) -> dict:
    event = {"event_type": INVENTORY_RESERVED if outcome_ok else INVENTORY_FAILED, "event_id": seed["event_id"],
             "order_id": seed["order_id"], "causation_id": order_event_id, "student_id": seed.get("student_id"),
             "item": item, "quantity": quantity, "timestamp": seed["timestamp"]}
    if outcome_ok:
        event["remaining"] = remaining
    else:
        event["reason"] = reason
    return event
