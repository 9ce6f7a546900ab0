"""The lab's one vocabulary: an order's status and a reservation's outcome, one `StrEnum` each, in every part.

Members are strings (`OrderStatus.CONFIRMED == "confirmed"`), so JSON bodies, events and database rows carry
the contract's words unchanged. One caveat: orjson takes them as values but not as dict keys.
"""
from __future__ import annotations

from enum import StrEnum


class OrderStatus(StrEnum):
    """The `status` of an order, as `POST /order` and `GET /order/<id>` give it."""

    PENDING = "pending"  # accepted, not decided yet (Parts B and C)
    CONFIRMED = "confirmed"  # its stock is reserved
    FAILED = "failed"  # refused; its `reason` is a ReservationOutcome
    UNKNOWN = "unknown"  # Part C: handed to the producer, never acknowledged: it may or may not be written


class ReservationOutcome(StrEnum):
    """What became of an order's reservation; every one but RESERVED is also the `reason` of a failed order."""

    RESERVED = "reserved"
    OUT_OF_STOCK = "out_of_stock"
    UNKNOWN_ITEM = "unknown_item"
    REJECTED = "rejected"  # refused before touching stock (a forced failure); the record's reason says which
    SERVICE_ERROR = "service_error"  # Part A: inventory answered 5xx or broke off; Part B: FORCE_FAILURE
    INVENTORY_UNAVAILABLE = "inventory_unavailable"  # Part A: inventory unreachable (or the breaker open)
    INVENTORY_TIMEOUT = "inventory_timeout"  # Part A: inventory slower than the order service's timeout
    FORCED_FAILURE = "forced_failure"  # Part C: the order's `force_fail` flag or FORCE_FAILURE
