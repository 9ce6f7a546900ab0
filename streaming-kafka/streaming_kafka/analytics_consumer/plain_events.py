"""The analytics fold's fast path: a record value decoded by msgspec straight into one of these structs when it is
plainly a well-formed event of our own shape (every field of its exact type and within `OrderPlaced`'s bounds, no
other key; the fold then asks for one of our own timestamps). A value msgspec refuses is not thereby refused: the
fold's full path decides.

What these accept is a subset of what the full path accepts, with the same values, for values that are ASCII without
a backslash (the caller checks): no escape, so each string is the value's own bytes, as orjson reads them too.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

import msgspec

from common.menu import ITEMS, MAX_QUANTITY
from streaming_kafka.events import FAILED, ORDER_PLACED, RESERVED

if TYPE_CHECKING:
    _Item = str
else:
    _Item = Literal[ITEMS]  # on the menu (names are case-sensitive)
# orjson reads an integer beyond 64 bits as a float, msgspec as an int: such a value takes the full path.
_Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


class PlainOrder(msgspec.Struct, tag_field="event_type", tag=ORDER_PLACED, forbid_unknown_fields=True, gc=False):
    """An `OrderPlaced` that `check_order_placed` accepts once its timestamp is one of our own on a valid minute."""

    event_id: _Id
    order_id: _Id
    item: _Item
    quantity: Annotated[int, msgspec.Meta(ge=1, le=MAX_QUANTITY)]
    timestamp: str  # trusted only once the fold's memo of our own timestamps holds it
    student_id: Annotated[str, msgspec.Meta(max_length=64)] = ""
    force_fail: bool = False


class _PlainResult(msgspec.Struct, tag_field="event_type", forbid_unknown_fields=True, gc=False):
    # The fields `inventory_result_bytes` writes, each of its own type; the fold reads order_id, item, quantity,
    # timestamp and reason.
    order_id: str
    item: str
    quantity: _Int64
    timestamp: str  # trusted only once the fold's memo of our own timestamps holds it
    event_id: str = ""
    source_event_id: str = ""
    student_id: str = ""
    remaining: int | None = None
    reason: str | None = None


class PlainReserved(_PlainResult, tag=RESERVED):
    pass


class PlainFailed(_PlainResult, tag=FAILED):
    pass


decode_plain = msgspec.json.Decoder(PlainOrder | PlainReserved | PlainFailed).decode
# Not of the plain shape, the full path decides: a DecodeError (a ValidationError too), or a RecursionError when
# nesting deeper than msgspec's limit comes before the tag it looks ahead for (the full path's depth limit answers).
PlainRefused = (msgspec.DecodeError, RecursionError)
