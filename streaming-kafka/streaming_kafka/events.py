"""Part C's events: how `OrderPlaced`, `InventoryReserved` and `InventoryFailed` look on the wire, built and parsed.

Events are compact JSON with a fixed key order, so the same event always encodes to the same bytes.
`timestamp` is the event's own time (UTC, ISO 8601 with milliseconds): analytics buckets by it.
"""
from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from common.menu import MAX_QUANTITY
from common.schemas import InvalidInput, ItemQuantity, decode_json, validate

ORDER_PLACED = "OrderPlaced"
RESERVED = "InventoryReserved"
FAILED = "InventoryFailed"


def iso_ms(epoch_ms: int) -> str:
    """`2026-11-25T06:56:00.123Z` for a Unix time in milliseconds."""
    secs, ms = divmod(int(epoch_ms), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{ms:03d}Z"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def epoch_ms(stamp: str) -> int:
    """Inverse of `iso_ms` (any ISO 8601 with a zone); ValueError when it is not a timestamp."""
    dt = datetime.fromisoformat(stamp)
    if dt.tzinfo is None:
        raise ValueError("timestamp without a time zone")
    try:
        return int(dt.astimezone(UTC).timestamp() * 1000)
    except OverflowError:  # e.g. 0001-01-01T00:30:00+01:00 is before year 1 in UTC
        raise ValueError("timestamp out of range") from None


def encode(event: dict) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


def order_placed(order_id: str, event_id: str, student_id: str, item: str, quantity: int, ts_ms: int,
                 force_fail: bool = False) -> dict:
    return {"event_type": ORDER_PLACED, "event_id": event_id, "order_id": order_id, "student_id": student_id,
            "item": item, "quantity": quantity, "timestamp": iso_ms(ts_ms), "force_fail": force_fail}


def order_placed_bytes(order_id: str, event_id: str, student_json: str, item: str, quantity: int, stamp: str,
                       force_fail: bool) -> bytes:
    """`encode(order_placed(...))` for `/bulk`'s hot loop, byte for byte (student_json is json.dumps(student_id))."""
    return (f'{{"event_type":"OrderPlaced","event_id":"{event_id}","order_id":"{order_id}",'
            f'"student_id":{student_json},"item":"{item}","quantity":{quantity},"timestamp":"{stamp}",'
            f'"force_fail":{"true" if force_fail else "false"}}}').encode()


class OrderPlaced(ItemQuantity):
    """What the inventory consumer requires of an `OrderPlaced` event (strict types; unknown item refused)."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    event_type: str = Field(pattern=f"^{ORDER_PLACED}$")
    event_id: str = Field(min_length=1, max_length=128)
    order_id: str = Field(min_length=1, max_length=128)
    student_id: str = Field("", max_length=64)
    quantity: int = Field(ge=1, le=MAX_QUANTITY)
    timestamp: str = Field(min_length=1, max_length=64)
    force_fail: bool = False


def parse_order_placed(raw: bytes | None, max_bytes: int | None = None) -> OrderPlaced:
    """Decode and validate one record value; InvalidInput(code, detail) says why a poison event is poison.
    Decoded by `common.schemas.decode_json`, as analytics decodes it, so both consumers read it alike."""
    return check_order_placed(decode_json(raw, max_bytes))


def check_order_placed(data) -> OrderPlaced:
    """Validate decoded JSON as an `OrderPlaced` (analytics calls this too, so both consumers agree on what
    an order is); InvalidInput(code, detail) says why not."""
    try:
        event = validate(OrderPlaced, data)
    except RecursionError:
        raise InvalidInput("too_deep", "a field is nested deeper than the validator allows") from None
    try:
        epoch_ms(event.timestamp)
    except ValueError:
        raise InvalidInput("validation_error", "timestamp: not an ISO 8601 time with a zone") from None
    return event


def inventory_result(order: OrderPlaced, outcome_ok: bool, reason: str | None, remaining: int | None,
                     event_id: str, ts_ms: int) -> dict:
    """The result event for an order; `event_id` and `ts_ms` come from the durable idempotency record."""
    event = {"event_type": RESERVED if outcome_ok else FAILED, "event_id": event_id, "order_id": order.order_id,
             "source_event_id": order.event_id, "student_id": order.student_id, "item": order.item,
             "quantity": order.quantity, "timestamp": iso_ms(ts_ms)}
    if outcome_ok:
        event["remaining"] = remaining
    else:
        event["reason"] = reason
    return event


class BulkRequest(BaseModel):
    """`POST /bulk`: how many events and which share is flagged `force_fail`."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    count: int = Field(ge=1)
    fail_rate: float = Field(0.0, ge=0.0, le=1.0)
    seed: int | None = None  # same seed: same items, quantities and failure flags
    student_id: str = Field("bulk", min_length=1, max_length=64)


def parse_bulk(data, limit: int) -> BulkRequest:
    if isinstance(data, dict) and isinstance(data.get("fail_rate"), int) and not isinstance(data["fail_rate"], bool):
        data = {**data, "fail_rate": float(data["fail_rate"])}  # 0 and 1 are fine rates
    req = validate(BulkRequest, data)
    if req.count > limit:
        raise InvalidInput("validation_error", f"count: at most {limit} events per request (BULK_MAX)")
    return req
