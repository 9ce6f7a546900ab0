"""Parsing `OrderPlaced`: what is poison, and why."""
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.menu import ITEMS
from common.schemas import InvalidInput
from common.stock import Reservation
from common.vocabulary import ReservationOutcome
from labkit.fuzz_messages import bad_body, bad_timestamps, json_values
from streaming_kafka.events import (
    InventoryResult,
    OrderPlaced,
    encode,
    epoch_ms,
    inventory_result_bytes,
    iso_ms,
    order_placed_bytes,
    parse_bulk,
    parse_inventory_result,
    parse_order_placed,
    plain_order_placed,
)

pytestmark = pytest.mark.unit

GOOD = OrderPlaced.new(order_id="ORD-1795590180000-abcdef12", event_id="a" * 32, student_id="s1",
                       item="pizza", quantity=2, ts_ms=1_795_590_180_123, force_fail=False).to_dict()


def test_round_trip_and_timestamps():
    ev = parse_order_placed(encode(GOOD))
    assert (ev.order_id, ev.item, ev.quantity, ev.force_fail) == (GOOD["order_id"], "pizza", 2, False)
    assert iso_ms(1_795_590_180_123) == "2026-11-25T07:03:00.123Z"
    assert epoch_ms(iso_ms(1_795_590_180_123)) == 1_795_590_180_123


@pytest.mark.parametrize("raw, code", [
    (None, "invalid_json"),
    (b"\xff\xfe", "invalid_json"),
    (b"not json", "invalid_json"),
    (b"[1, 2]", "invalid_body"),
    (encode({**GOOD, "item": "caviar"}), "unknown_item"),
    (encode({**GOOD, "quantity": "2"}), "validation_error"),
    (encode({**GOOD, "quantity": 0}), "validation_error"),
    (encode({**GOOD, "quantity": True}), "validation_error"),
    (encode({k: v for k, v in GOOD.items() if k != "event_id"}), "validation_error"),
    (encode({**GOOD, "event_type": "OrderCancelled"}), "validation_error"),
    (encode({**GOOD, "timestamp": "noon"}), "validation_error"),
    (encode({**GOOD, "force_fail": "yes"}), "validation_error"),
    (b"[" * 30_000 + b"]" * 30_000, "too_deep"),  # 60 KB of nesting: a recursive parser would raise RecursionError
    (encode({**GOOD, "x": 1}).replace(b'"x":1', b'"x":' + b"[" * 30_000 + b"]" * 30_000), "too_deep"),
    (b"1" * 5000, "invalid_json"),  # over Python's int-digit limit: a plain ValueError
    (encode({**GOOD, "timestamp": "0001-01-01T00:30:00+01:00"}), "validation_error"),  # was an OverflowError
])
def test_poison(raw, code):
    with pytest.raises(InvalidInput) as err:
        parse_order_placed(raw)
    assert err.value.code == code


def test_bulk_parsing():
    assert parse_bulk({"count": 5, "fail_rate": 0.1}, 10).count == 5
    assert parse_bulk({"count": 5, "fail_rate": 1}, 10).fail_rate == 1.0
    for bad in ({"count": 11}, {"count": 0}, {"count": "5"}, {"count": 5, "fail_rate": 1.5}, {"count": True}, [],
                {"count": 5, "fail_rate": "0.1"}):
        with pytest.raises(InvalidInput):
            parse_bulk(bad, 10)


@settings(max_examples=300, deadline=None)
@given(student=st.text(max_size=64), item=st.sampled_from(ITEMS), quantity=st.integers(1, 100),
       force_fail=st.booleans(), ts=st.integers(0, 4_102_444_800_000))
def test_bulk_fast_path_is_the_order_placed_models_encoding_byte_for_byte(student, item, quantity, force_fail, ts):
    # /bulk's hot loop formats the JSON itself: it must be what the model writes (`OrderPlaced.to_bytes()`) and reads.
    fast = order_placed_bytes("ORD-1-abcdef12", "b" * 32, json.dumps(student), item, quantity, iso_ms(ts), force_fail)
    model = OrderPlaced.new(order_id="ORD-1-abcdef12", event_id="b" * 32, student_id=student, item=item,
                            quantity=quantity, ts_ms=ts, force_fail=force_fail)
    assert fast == model.to_bytes()
    assert parse_order_placed(fast) == model


def test_encoding_is_compact_and_keeps_field_order():
    raw = encode({"b": 1, "a": "x y"})
    assert raw == b'{"b":1,"a":"x y"}'  # no spaces: smaller records; insertion order: readable in kcat


def test_oversized_is_poison_before_parsing():
    with pytest.raises(InvalidInput) as err:
        parse_order_placed(encode({**GOOD, "pad": "x" * 2000}), max_bytes=1024)
    assert err.value.code == "oversized"


def test_order_placed_is_written_and_read_by_one_model():
    order = OrderPlaced.new(order_id="ORD-1-abcdef12", event_id="c" * 32, student_id="s\u00e9", item="soda",
                            quantity=3, ts_ms=1_795_590_180_007, force_fail=True)
    raw = order.to_bytes()
    assert list(json.loads(raw)) == ["event_type", "event_id", "order_id", "student_id", "item", "quantity",
                                     "timestamp", "force_fail"]
    assert b"\\u00e9" in raw and parse_order_placed(raw) == order


@pytest.mark.parametrize("outcome,remaining,reason", [(ReservationOutcome.RESERVED, 4, None),
                                                      (ReservationOutcome.OUT_OF_STOCK, 0, "out_of_stock")])
def test_inventory_result_is_written_and_read_by_one_model(outcome, remaining, reason):
    order = parse_order_placed(encode(GOOD))
    res = Reservation(order.event_id, order.item, order.quantity, outcome, remaining, reason,
                      payload={"event_id": "r" * 32, "ts_ms": 1_795_590_181_000})
    result = InventoryResult.for_reservation(order, res)
    wire = json.loads(result.to_bytes())
    last = "remaining" if reason is None else "reason"
    assert list(wire) == ["event_type", "event_id", "order_id", "source_event_id", "student_id", "item", "quantity",
                          "timestamp", last]
    assert wire[last] == (remaining if reason is None else reason)
    assert (wire["source_event_id"], wire["timestamp"]) == (order.event_id, "2026-11-25T07:03:01.000Z")
    assert parse_inventory_result(result.to_bytes()) == result


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=64), remaining=st.integers(0, 10**12), ok=st.booleans())
def test_a_result_encodes_as_json_does_whatever_its_text(text, remaining, ok):
    # the models encode through orjson when its bytes are json's: any text must come out as json.dumps writes it
    result = InventoryResult(event_type="InventoryReserved" if ok else "InventoryFailed", event_id="r" * 32,
                             order_id=f"ORD-1-{text}"[:128], source_event_id="s" * 32, student_id=text, item="pizza",
                             quantity=1, timestamp="2026-11-25T07:03:01.000Z",
                             remaining=remaining if ok else None, reason=None if ok else text)
    assert result.to_bytes() == json.dumps(result.to_dict(), separators=(",", ":")).encode()
    assert parse_inventory_result(result.to_bytes()) == result


def _template(order_id, event_id, item, quantity):
    return {**GOOD, "order_id": order_id, "event_id": event_id, "item": item, "quantity": quantity}


# Any value for any of the order's own keys (or a key of its own), on top of a good order; and the fuzz rings' bad
# bodies: the plain path must never accept what the full path refuses, nor read a value differently.
_edits = st.dictionaries(st.sampled_from(["event_type", "event_id", "order_id", "student_id", "item", "quantity",
                                          "timestamp", "force_fail", "extra"]),
                         st.one_of(json_values, st.sampled_from(ITEMS), st.integers(-2, 102),
                                   st.text(min_size=60, max_size=140), bad_timestamps,
                                   st.sampled_from(["", "x" * 64, "x" * 65, "x" * 128, "x" * 129]),
                                   st.sampled_from(["OrderPlaced", "OrderPlaced\n", "orderplaced"])),
                         max_size=3)


@settings(max_examples=400, deadline=None)
@given(raw=st.one_of(bad_body(_template, 1024, timestamps=True).map(lambda kb: kb[1]),
                     _edits.map(lambda e: json.dumps({**GOOD, **e}).encode()),
                     _edits.map(lambda e: json.dumps({k: v for k, v in GOOD.items() if k not in e}).encode())))
def test_the_plain_path_accepts_only_what_the_model_accepts_with_the_same_values(raw):
    check_plain_path(raw)


def check_plain_path(raw: bytes) -> None:
    plain = plain_order_placed(raw, 1024)
    try:
        full = parse_order_placed(raw, 1024)
    except InvalidInput:
        assert plain is None
        return
    if plain is not None:
        assert plain == (full.event_id, full.order_id, full.student_id, full.item, full.quantity, full.force_fail)


@pytest.mark.parametrize("edit", [
    {"student_id": "x" * 64}, {"student_id": "x" * 65}, {"student_id": ""}, {"order_id": "x" * 128},
    {"order_id": "x" * 129}, {"event_id": "x" * 128}, {"event_id": "x" * 129}, {"event_id": ""}, {"order_id": ""},
    {"quantity": 0}, {"quantity": 1}, {"quantity": 100}, {"quantity": 101}, {"quantity": True}, {"quantity": 2.0},
    {"force_fail": 1}, {"force_fail": None}, {"item": "Pizza"}, {"event_type": "OrderPlaced "},
    {"timestamp": "2026-11-25T07:03:00"}, {"timestamp": ""}, {"timestamp": "2026-11-25T07:03:00.123+00:00" + " " * 40},
])
def test_the_plain_path_at_each_bound(edit):
    check_plain_path(json.dumps({**GOOD, **edit}).encode())


def test_the_plain_path_takes_the_events_producers_write():
    assert plain_order_placed(encode(GOOD)) == (GOOD["event_id"], GOOD["order_id"], "s1", "pizza", 2, False)
    lean = {k: v for k, v in GOOD.items() if k not in ("student_id", "force_fail")}  # both have defaults
    assert plain_order_placed(encode(lean)) == (GOOD["event_id"], GOOD["order_id"], "", "pizza", 2, False)
    assert plain_order_placed(encode({**GOOD, "note": 1})) is None  # valid, but for the full path (depth)
    assert plain_order_placed(encode(GOOD), max_bytes=10) is None


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=64), ids=st.text(min_size=1, max_size=128), item=st.sampled_from(ITEMS),
       quantity=st.integers(1, 100), remaining=st.integers(0, 10**12), ts=st.integers(0, 4_102_444_800_000),
       outcome=st.sampled_from(list(ReservationOutcome)))
def test_result_bytes_are_the_models_byte_for_byte(text, ids, item, quantity, remaining, ts, outcome):
    order = OrderPlaced.new(order_id=ids, event_id=ids[::-1], student_id=text, item=item, quantity=quantity, ts_ms=0)
    reason = None if outcome == ReservationOutcome.RESERVED else outcome
    res = Reservation(order.event_id, item, quantity, outcome, remaining if reason is None else None, reason,
                      payload={"event_id": "r" * 32, "ts_ms": ts})
    assert inventory_result_bytes("r" * 32, ids, ids[::-1], text, item, quantity, ts, outcome, res.remaining,
                                  reason) == InventoryResult.for_reservation(order, res).to_bytes()
