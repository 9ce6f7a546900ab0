"""Message parsing and building: every poison kind has its reason; valid messages parse strictly."""
import json

import pytest

from async_rabbitmq.messaging.messages import (
    INVENTORY_FAILED,
    INVENTORY_RESERVED,
    InventoryResult,
    OrderPlaced,
    Poison,
    parse_inventory_result,
    parse_order_placed,
    result_seed,
)
from common.ids import is_event_id
from common.stock import Reservation
from common.vocabulary import ReservationOutcome

pytestmark = pytest.mark.unit


def body(**over) -> bytes:
    event = OrderPlaced.new(order_id="ORD-1-abc", student_id="s1", item="pizza", quantity=2).to_dict()
    event.update(over)
    return json.dumps({k: v for k, v in event.items() if v is not ...}).encode()


def test_order_placed_has_the_contract_fields():
    e = OrderPlaced.new(order_id="ORD-1-abc", student_id="s1", item="pizza", quantity=2)
    wire = json.loads(e.to_bytes())
    assert list(wire) == ["event_type", "event_id", "order_id", "student_id", "item", "quantity", "timestamp"]
    assert wire["event_type"] == "OrderPlaced" and is_event_id(wire["event_id"])
    assert parse_order_placed(e.to_bytes()) == e  # the model that writes the event reads it back


def test_valid_message_parses():
    o = parse_order_placed(body())
    assert isinstance(o, OrderPlaced) and (o.item, o.quantity) == ("pizza", 2)


def test_only_required_fields_are_needed():
    o = parse_order_placed(json.dumps({"event_id": "e1", "order_id": "o1", "item": "soda", "quantity": 1}).encode())
    assert o.student_id is None


@pytest.mark.parametrize("raw,reason", [
    (b"not json", "not_json"),
    (b"\xff\xfe", "not_json"),
    (b"", "not_json"),
    (b"[1]", "not_an_object"),
    (b'"text"', "not_an_object"),
    (body(quantity=...), "missing_field"),
    (body(event_id=...), "missing_field"),
    (body(order_id=...), "missing_field"),
    (body(item=...), "missing_field"),
    (body(quantity="2"), "invalid_field"),
    (body(quantity=2.0), "invalid_field"),
    (body(quantity=True), "invalid_field"),
    (body(quantity=0), "invalid_field"),
    (body(quantity=101), "invalid_field"),
    (body(event_id=5), "invalid_field"),
    (body(event_type="OrderCancelled"), "invalid_field"),
    (body(item="sushi"), "unknown_item"),
    (body(item="Pizza"), "unknown_item"),
])
def test_poison_reasons(raw, reason):
    with pytest.raises(Poison) as err:
        parse_order_placed(raw)
    assert err.value.reason == reason and err.value.detail


def test_oversized_is_poison_before_parsing():
    with pytest.raises(Poison) as err:
        parse_order_placed(body(pad="x" * 100), max_bytes=100)
    assert err.value.reason == "oversized"


def test_result_event_is_rebuilt_identically_from_its_seed():
    order = parse_order_placed(body())
    seed = result_seed(order)

    def result(ok: bool, payload: dict) -> InventoryResult:
        outcome = ReservationOutcome.RESERVED if ok else ReservationOutcome.OUT_OF_STOCK
        return InventoryResult.for_reservation(order.event_id, Reservation(
            order.event_id, "pizza", 2, outcome, 98 if ok else 1, None if ok else outcome, payload=payload))

    a = result(True, seed)
    b = result(True, json.loads(json.dumps(seed)))  # as stored with the reservation and read back
    assert a.to_bytes() == b.to_bytes()
    assert a.event_type == INVENTORY_RESERVED and a.causation_id == order.event_id and a.remaining == 98
    assert "reason" not in json.loads(a.to_bytes())
    failed = result(False, seed)
    assert failed.event_type == INVENTORY_FAILED and json.loads(failed.to_bytes())["reason"] == "out_of_stock"
    assert "remaining" not in json.loads(failed.to_bytes())
    for event in (a, failed):  # the model that writes the event reads it back
        assert parse_inventory_result(event.to_bytes()) == event


def test_inventory_event_parsing():
    e = parse_inventory_result(json.dumps({"event_type": "InventoryFailed", "event_id": "x", "order_id": "o",
                                          "reason": "out_of_stock"}).encode())
    assert e.status == "failed"
    with pytest.raises(Poison):
        parse_inventory_result(b'{"event_type": "Other", "event_id": "x", "order_id": "o"}')


@pytest.mark.parametrize("raw", [b"[" * 30_000 + b"]" * 30_000,
                                 b'{"event_id": "e", "order_id": "o", "item": "pizza", "quantity": 1, "x": '
                                 + b"[" * 30_000 + b"]" * 30_000 + b"}"])
def test_json_nested_deeper_than_the_parser_is_poison_not_a_crash(raw):
    with pytest.raises(Poison) as err:
        parse_order_placed(raw)
    assert err.value.reason == "too_deep"
    with pytest.raises(Poison):
        parse_inventory_result(raw)


@pytest.mark.parametrize("depth", [33, 1000])  # just over the shared limit (32); under orjson's own (1024)
def test_every_consumer_of_both_parts_refuses_the_same_nesting(depth):
    """Part B's consumers decode with Part C's decoder (common.schemas.decode_json): one depth limit for all,
    not whatever depth each parser's stack reaches."""
    from common.schemas import InvalidInput
    from streaming_kafka.events import parse_order_placed as part_c_parse

    deep = body(x=...).replace(b"}", b', "x": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}")
    with pytest.raises(Poison) as err:
        parse_order_placed(deep)
    assert err.value.reason == "too_deep"
    with pytest.raises(InvalidInput) as c_err:
        part_c_parse(deep)
    assert c_err.value.code == "too_deep"
    at_limit = body(x=...).replace(b"}", b', "x": ' + b"[" * 31 + b"]" * 31 + b"}")
    assert parse_order_placed(at_limit).order_id == "ORD-1-abc"
