"""Part C's events: `OrderPlaced` and `InventoryResult` (`InventoryReserved`/`InventoryFailed`), one model each
that both builds (`Model.new(...)`/`.to_bytes()`) and parses (`parse_...`) the wire's JSON.

Events are compact JSON with a fixed key order, so the same event always encodes to the same bytes.
`timestamp` is the event's own time (UTC, ISO 8601 with milliseconds): analytics buckets by it.
"""
from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from functools import lru_cache
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from common.menu import ITEMS, MAX_QUANTITY
from common.schemas import InvalidInput, ItemQuantity, decode_json, validate
from common.stock import Reservation
from common.vocabulary import ReservationOutcome

ORDER_PLACED = "OrderPlaced"
RESERVED = "InventoryReserved"
FAILED = "InventoryFailed"


def iso_ms(epoch_ms: int) -> str:
    """`2026-11-25T06:56:00.123Z` for a Unix time in milliseconds."""
    secs, ms = divmod(int(epoch_ms), 1000)
    return _iso_seconds(secs) + f".{ms:03d}Z"


@lru_cache(maxsize=256)
def _iso_seconds(secs: int) -> str:
    # cached: a consumer stamps a batch's results within the same few seconds, and strftime is most of the cost
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))


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


_COMPACT = json.JSONEncoder(separators=(",", ":"))  # json.dumps would build this encoder again on every call


def encode(event: dict) -> bytes:
    """Compact JSON, keys in the order given: the one encoding of every event (and of a hand-made test body)."""
    return _COMPACT.encode(event).encode()


def _encode_fields(event: dict) -> bytes:
    """`encode` of an event's fields (strings, ints, booleans, None), a tenth of its cost: orjson's bytes are
    json's whenever they are ASCII without DEL (json escapes every other character as \\uXXXX, orjson writes it
    as UTF-8 or, DEL, raw)."""
    try:
        raw = orjson.dumps(event)
    except orjson.JSONEncodeError:  # e.g. a lone surrogate, which json escapes
        return encode(event)
    return raw if raw.isascii() and b"\x7f" not in raw else encode(event)


def order_placed_bytes(order_id: str, event_id: str, student_json: str, item: str, quantity: int, stamp: str,
                       force_fail: bool) -> bytes:
    """`OrderPlaced(...).to_bytes()` for `/bulk`'s hot loop, byte for byte (student_json is json.dumps(student_id))."""
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

    @classmethod
    def new(cls, *, order_id: str, event_id: str, student_id: str, item: str, quantity: int, ts_ms: int,
            force_fail: bool = False) -> OrderPlaced:
        return cls(event_type=ORDER_PLACED, event_id=event_id, order_id=order_id, student_id=student_id, item=item,
                   quantity=quantity, timestamp=iso_ms(ts_ms), force_fail=force_fail)

    def to_dict(self) -> dict:
        """The wire's fields, in the wire's order."""
        return {"event_type": self.event_type, "event_id": self.event_id, "order_id": self.order_id,
                "student_id": self.student_id, "item": self.item, "quantity": self.quantity,
                "timestamp": self.timestamp, "force_fail": self.force_fail}

    def to_bytes(self) -> bytes:
        return _encode_fields(self.to_dict())


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


_ITEMS = frozenset(ITEMS)
# The fields `plain_order_placed` reads: a record with any other key takes the full path (its depth is checked there).
_ORDER_KEYS = frozenset(("event_type", "event_id", "order_id", "student_id", "item", "quantity", "timestamp",
                         "force_fail"))


def plain_order_placed(raw: bytes | None, max_bytes: int | None = None) -> tuple | None:
    """The fields `(event_id, order_id, student_id, item, quantity, force_fail)` of an `OrderPlaced` that is
    plainly valid, or None: then `parse_order_placed` decides (and says why a poison event is poison).

    The inventory consumer's hot path, about a fifth of the full one: what it accepts is a subset of what
    `parse_order_placed` accepts, with the same values (decoded by orjson, as `decode_json` does first; only
    the event's own keys, so its depth is 1; each value of the exact type and within the bounds that
    `OrderPlaced` checks); anything else, even valid, goes the full way."""
    if raw is None or (max_bytes is not None and len(raw) > max_bytes):
        return None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if type(data) is not dict or not _ORDER_KEYS.issuperset(data):
        return None
    get = data.get
    event_id, order_id, student_id = get("event_id"), get("order_id"), get("student_id", "")
    item, quantity, stamp, force_fail = get("item"), get("quantity"), get("timestamp"), get("force_fail", False)
    if (get("event_type") == ORDER_PLACED and type(event_id) is str and 0 < len(event_id) <= 128
            and type(order_id) is str and 0 < len(order_id) <= 128 and type(student_id) is str
            and len(student_id) <= 64 and type(item) is str and item in _ITEMS and type(quantity) is int
            and 1 <= quantity <= MAX_QUANTITY and type(stamp) is str and _good_stamp(stamp)
            and type(force_fail) is bool):
        return event_id, order_id, student_id, item, quantity, force_fail
    return None


@lru_cache(maxsize=1024)
def _good_stamp(stamp: str) -> bool:
    # cached: a producer stamps many events with the same time (/bulk refreshes it every 1,000 events)
    if not 0 < len(stamp) <= 64:
        return False
    try:
        epoch_ms(stamp)
    except ValueError:
        return False
    return True


def inventory_result_bytes(event_id: str, order_id: str, source_event_id: str, student_id: str, item: str,
                           quantity: int, ts_ms: int, outcome: str, remaining: int | None, reason: str | None) -> bytes:
    """`InventoryResult.for_reservation(...).to_bytes()` without the model, byte for byte, for fields that are
    already valid (an order `plain_order_placed` accepted, the consumer's own event id and time)."""
    if outcome == ReservationOutcome.RESERVED:
        return _encode_fields({"event_type": RESERVED, "event_id": event_id, "order_id": order_id,
                               "source_event_id": source_event_id, "student_id": student_id, "item": item,
                               "quantity": quantity, "timestamp": _iso_ms_recent(ts_ms), "remaining": remaining})
    return _encode_fields({"event_type": FAILED, "event_id": event_id, "order_id": order_id,
                           "source_event_id": source_event_id, "student_id": student_id, "item": item,
                           "quantity": quantity, "timestamp": _iso_ms_recent(ts_ms), "reason": reason})


# A consumer's batch is stamped within a few milliseconds: each is formatted once.
_iso_ms_recent = lru_cache(maxsize=256)(iso_ms)


class InventoryResult(BaseModel):
    """`InventoryReserved` (with `remaining`) or `InventoryFailed` (with `reason`): the outcome of one order."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    event_type: Literal["InventoryReserved", "InventoryFailed"]
    event_id: str = Field(min_length=1, max_length=128)
    order_id: str = Field(min_length=1, max_length=128)
    source_event_id: str = Field(min_length=1, max_length=128)
    student_id: str = Field("", max_length=64)
    item: str = Field(min_length=1, max_length=64)
    quantity: int
    timestamp: str = Field(min_length=1, max_length=64)
    remaining: int | None = None
    reason: str | None = None

    @classmethod
    def for_reservation(cls, order: OrderPlaced, res: Reservation) -> InventoryResult:
        """The result event for an order; its `event_id` and `ts_ms` come from the durable idempotency record
        (`res.payload`), so a redelivery yields the same bytes."""
        return cls.of(order.order_id, order.event_id, order.student_id, order.item, order.quantity, res)

    @classmethod
    def of(cls, order_id: str, source_event_id: str, student_id: str, item: str, quantity: int,
           res: Reservation) -> InventoryResult:
        """`for_reservation` from the order's fields."""
        assert res.payload is not None
        ok = res.outcome == ReservationOutcome.RESERVED
        # model_validate of a dict: the same checks as cls(...), without the keyword packing
        return cls.model_validate({
            "event_type": RESERVED if ok else FAILED, "event_id": res.payload["event_id"], "order_id": order_id,
            "source_event_id": source_event_id, "student_id": student_id, "item": item, "quantity": quantity,
            "timestamp": iso_ms(res.payload["ts_ms"]), "remaining": res.remaining if ok else None,
            "reason": None if ok else res.reason})

    def to_dict(self) -> dict:
        """The wire's fields, in the wire's order: `remaining` on a reservation, `reason` on a refusal."""
        event = {"event_type": self.event_type, "event_id": self.event_id, "order_id": self.order_id,
                 "source_event_id": self.source_event_id, "student_id": self.student_id, "item": self.item,
                 "quantity": self.quantity, "timestamp": self.timestamp}
        if self.event_type == RESERVED:
            event["remaining"] = self.remaining
        else:
            event["reason"] = self.reason
        return event

    def to_bytes(self) -> bytes:
        return _encode_fields(self.to_dict())


def parse_inventory_result(raw: bytes | None, max_bytes: int | None = None) -> InventoryResult:
    return validate(InventoryResult, decode_json(raw, max_bytes))


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
