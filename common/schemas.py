"""Validation of the contract's order request, with pydantic (strict: no coercion of "5" to 5 or true to 1)."""
from __future__ import annotations

from typing import Any, TypeVar

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


class ReserveRequest(ItemQuantity):
    """Part A's call from order-service to inventory-service."""

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
