"""Validation of the contract's order request, with pydantic (strict: no coercion of "5" to 5 or true to 1)."""
from __future__ import annotations

import json
from typing import Any, TypeVar

import orjson
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .menu import ITEMS, MAX_QUANTITY


class InvalidInput(ValueError):
    """Input rejected at a boundary: carries the contract's error code and a human detail."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


class ItemQuantity(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    item: str = Field(min_length=1, max_length=64)
    quantity: int = Field(ge=1, le=MAX_QUANTITY)

    @field_validator("item")
    @classmethod
    def _known_item(cls, v: str) -> str:
        if v not in ITEMS:
            raise ValueError(f"unknown item {v!r}; the menu is {', '.join(ITEMS)}")
        return v


DEFAULT_STUDENT_ID = "anonymous"  # the original lab's clients may leave student_id out


class OrderRequest(ItemQuantity):
    """The contract's order body; the original lab's clients are accepted too (`qty`, no `student_id`)."""

    quantity: int = Field(ge=1, le=MAX_QUANTITY, validation_alias=AliasChoices("quantity", "qty"))
    student_id: str = Field(DEFAULT_STUDENT_ID, min_length=1, max_length=64)

    @model_validator(mode="before")
    @classmethod
    def _one_quantity(cls, data: Any) -> Any:
        if isinstance(data, dict) and "quantity" in data and "qty" in data and data["quantity"] != data["qty"]:
            raise ValueError("quantity and qty (its alias) disagree; send one of them")
        return data


class ReserveBody(ItemQuantity):
    """The body of Part A's call from order-service to inventory-service (`POST /reserve`); the stock core's own
    request is `common.stock.ReserveRequest`."""

    order_id: str = Field(min_length=1, max_length=128)


def describe(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "body"
        parts.append(f"{where}: {e['msg']}")
    return "; ".join(parts)


M = TypeVar("M", bound=BaseModel)


def validate(model: type[M], data: Any) -> M:
    """Validate a decoded JSON body; raises InvalidInput (invalid_body, unknown_item or validation_error)."""
    if not isinstance(data, dict):
        raise InvalidInput("invalid_body", "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        unknown = any(e["loc"] == ("item",) and e["type"] == "value_error" for e in err.errors())
        raise InvalidInput("unknown_item" if unknown else "validation_error", describe(err)) from None


def parse_order(data: Any) -> OrderRequest:
    return validate(OrderRequest, data)


# How deep a message's JSON may nest. Events are flat (depth 1); the limit is ours, not a parser's: the standard
# library's recursive parser gives up at a depth that depends on the caller's stack, orjson at 1024, so two
# consumers using one each disagreed on a record in between (one dead-lettered it, the other counted it).
MAX_JSON_DEPTH = 32


_CONTAINERS = (dict, list)


def _depth_exceeds(data: Any, limit: int) -> bool:
    """Whether `data` nests deeper than `limit` (a flat object or list is 1 deep), one level at a time."""
    level, depth = [data] if isinstance(data, _CONTAINERS) else [], 0
    while level:
        depth += 1
        if depth > limit:
            return True
        level = [child for node in level for child in (node.values() if type(node) is dict else node)
                 if isinstance(child, _CONTAINERS)]
    return False


def decode_json(raw: bytes | None, max_bytes: int | None = None, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Decode one message or record value: the one decoder every consumer of an event uses, so that they all
    read it the same way. InvalidInput codes: `invalid_json` (no value, not UTF-8, not JSON), `oversized` (over
    `max_bytes`, checked before parsing), `too_deep` (nested deeper than `max_depth`).

    orjson first (about 3x faster than `json`); what it refuses but the standard library reads (integers over 64
    bits, NaN, lone surrogates) is read by `json`, as before, so no consumer refuses what it used to accept."""
    if raw is None:
        raise InvalidInput("invalid_json", "the record has no value (tombstone)")
    if max_bytes is not None and len(raw) > max_bytes:
        raise InvalidInput("oversized", f"{len(raw)} bytes, over the {max_bytes}-byte limit (MAX_MESSAGE_BYTES)")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            data = json.loads(raw)
        except ValueError:  # not UTF-8, not JSON, or an integer over Python's 4300-digit limit
            raise InvalidInput("invalid_json", "the value is not JSON") from None
        except RecursionError:  # e.g. 60 KB of `[[[[...`: deeper than the parser's stack
            raise InvalidInput("too_deep", f"the value is JSON nested deeper than {max_depth} levels") from None
    # Every container opens with a `{` or `[` byte (in each encoding JSON allows), so a value with at most one such
    # byte is at most one level deep: the walk is needed only for the others (an event never nests).
    if (max_depth < 1 or type(raw) is not bytes or raw.count(b"{") + raw.count(b"[") > 1) \
            and _depth_exceeds(data, max_depth):
        raise InvalidInput("too_deep", f"the value is JSON nested deeper than {max_depth} levels")
    return data
