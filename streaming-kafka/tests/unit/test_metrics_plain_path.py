"""The analytics fold's plain path (msgspec structs) decides exactly as its full path (the inventory consumer's checks)
on every value, and our own events take it."""
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.menu import MAX_QUANTITY
from labkit.fuzz_messages import json_values
from streaming_kafka.analytics_consumer.metrics import MetricsState
from streaming_kafka.analytics_consumer.plain_events import PlainFailed, PlainOrder, PlainReserved, decode_plain
from streaming_kafka.events import OrderPlaced, encode, iso_ms

pytestmark = pytest.mark.unit

T0 = 1_795_590_180_000  # a minute boundary, in ms
STAMP = iso_ms(T0)


def order(**fields) -> dict:
    return OrderPlaced.new(order_id="ORD-1", event_id="e" * 32, student_id="s", item="soda", quantity=2,
                           ts_ms=T0).to_dict() | fields


def result(ok: bool = True, **fields) -> dict:
    ev = {"event_type": "InventoryReserved" if ok else "InventoryFailed", "event_id": "r" * 32, "order_id": "ORD-1",
          "source_event_id": "e" * 32, "student_id": "s", "item": "soda", "quantity": 2, "timestamp": STAMP}
    return ev | ({"remaining": 7} if ok else {"reason": "out_of_stock"}) | fields


def primed() -> MetricsState:
    """A state that has seen STAMP (so a value stamped with it may take the plain path) and one order and result."""
    state = MetricsState(max_bytes=4096)
    assert state.add_many([encode(order(order_id="ORD-0")), encode(result(order_id="ORD-0"))]) == 2
    return state


def view(state: MetricsState) -> tuple:
    return state.orders, state.results, state.duplicates, state.invalid, state.version, state.metrics()


def assert_both_paths_agree(raw) -> None:
    """Folded twice (a redelivery) through `add_many`, which tries the plain path first, and through the full path
    alone: the same state, counters and metrics."""
    plain, full = primed(), primed()
    plain.add_many([raw, raw])
    for _ in range(2):
        before = len(full.orders) + len(full.results)
        full._add_full(raw)
        full.version += len(full.orders) + len(full.results) - before
    assert view(plain) == view(full)


def test_our_own_events_take_the_plain_path_on_a_known_stamp(monkeypatch):
    assert type(decode_plain(encode(order()))) is PlainOrder
    assert type(decode_plain(encode(result(True)))) is PlainReserved
    assert type(decode_plain(encode(result(False)))) is PlainFailed
    state = primed()

    def refuse(raw):
        raise AssertionError(f"the full path was asked about {raw!r}")

    monkeypatch.setattr(state, "_add_full", refuse)
    batch = [encode(order(order_id=f"ORD-{n}", event_id=f"{n:032x}")) for n in range(1, 50)]
    batch += [encode(result(n % 3 > 0, order_id=f"ORD-{n}")) for n in range(1, 50)]
    assert state.add_many(batch + batch) == 98
    m = state.metrics()
    assert (m["total_orders_seen"], m["total_reserved"], m["total_failed"]) == (50, 34, 16)  # ORD-0 reserved
    assert m["failure_reasons"] == {"out_of_stock": 16} and m["duplicate_events_ignored"] == 98
    assert m["reserved_units_by_item"] == {"soda": 2 * 34} and m["orders_pending"] == 0


def test_an_unseen_stamp_is_checked_by_the_full_path_first():
    state = MetricsState()
    bad = encode(order(timestamp="2026-11-25T07:03:60.000Z"))  # our shape, not a time
    assert state.add_many([bad, bad]) == 0 and state.invalid == 2
    later = encode(order(order_id="ORD-2", timestamp=iso_ms(T0 + 61_000)))
    assert state.add_many([later]) == 1 and state.orders == {"ORD-2": T0 // 1000 + 60}


_RAW_EDGES = [
    # escapes: a lone surrogate (orjson refuses it, json reads it), an escaped ASCII letter, escaped non-ASCII
    b'{"event_type":"OrderPlaced","event_id":"' + b"e" * 32 + b'","order_id":"\\ud800","student_id":"s","item":"soda",'
    b'"quantity":2,"timestamp":"' + STAMP.encode() + b'","force_fail":false}',
    encode(order()).replace(b'"ORD-1"', b'"ORD-\\u0041"'),
    encode(order()).replace(b'"ORD-1"', b'"ORD-\\u00e9"'),
    encode(order()).replace(b'"ORD-1"', b'"ORD-\\udc80"'),
    encode(order()).replace(b'"s"', b'"\\ud83d\\ude00"'),
    encode(order()).replace(b'"ORD-1"', "\"ORD-\u00e9\"".encode()),  # raw UTF-8
    encode(order()).replace(b'"ORD-1"', b'"ORD-\xed\xa0\x80"'),  # a surrogate's UTF-8 bytes: not UTF-8
    # duplicate keys, the event type twice, whitespace, trailing content
    encode(order()).replace(b"{", b'{"order_id":"ORD-X",', 1),
    encode(order()).replace(b"}", b',"order_id":"ORD-Y"}'),
    encode(order()).replace(b"}", b',"event_type":"InventoryReserved"}'),
    encode(result()).replace(b"}", b',"event_type":"OrderPlaced"}'),
    encode(order()).replace(b",", b" ,\n\t"),
    encode(order()) + b" ",
    encode(order()) + b"{}",
    encode(order()) + encode(order(order_id="ORD-2")),
    b"[" + encode(order()) + b"]",
    encode(order()).replace(b'"quantity":2', b'"quantity":2.0'),
    encode(order()).replace(b'"quantity":2', b'"quantity":2e0'),
    encode(order()).replace(b'"quantity":2', b'"quantity":-0'),
    encode(order()).replace(b'"quantity":2', b'"quantity":' + b"9" * 30),
    encode(result()).replace(b'"quantity":2', b'"quantity":' + b"9" * 30),
    encode(order()).replace(b"false", b"NaN"),
    b"", b"{}", b"null", None, b"\xff", b"[" * 200 + b"]" * 200,
    # nesting deeper than msgspec's limit before the tag (it looks ahead for the tag): a RecursionError, not a refusal
    b'{"x":' + b"[" * 1500 + b"]" * 1500 + b',"event_type":"OrderPlaced"}',
    b'{"x":{"y":' + b"[" * 1500 + b"]" * 1500 + b'},"event_type":"InventoryReserved"}',
    encode(order() | {"pad": "x" * 5000}),  # over max_bytes
]


@pytest.mark.parametrize("raw", _RAW_EDGES)
def test_edge_values_are_decided_alike_by_both_paths(raw):
    assert_both_paths_agree(raw)


@pytest.mark.parametrize("fields", [
    {"quantity": True}, {"quantity": False}, {"quantity": 1.0}, {"quantity": 0}, {"quantity": MAX_QUANTITY},
    {"quantity": MAX_QUANTITY + 1}, {"quantity": "2"}, {"quantity": None}, {"item": "Soda"}, {"item": "caviar"},
    {"item": ["soda"]}, {"event_id": ""}, {"event_id": "e" * 128}, {"event_id": "e" * 129}, {"order_id": ""},
    {"order_id": "o" * 128}, {"order_id": "o" * 129}, {"order_id": 1}, {"student_id": "s" * 64},
    {"student_id": "s" * 65}, {"student_id": None}, {"student_id": 5}, {"force_fail": 1}, {"force_fail": None},
    {"force_fail": True}, {"force_fail": "true"}, {"timestamp": STAMP.replace("Z", "+00:00")},
    {"timestamp": STAMP + " "}, {"timestamp": STAMP[:-1]}, {"timestamp": 1}, {"event_type": "OrderPlaced "},
    {"event_type": "orderplaced"}, {"extra": 1}, {"extra": {"a": [1]}}, {"extra": None}])
def test_an_order_with_one_field_changed_is_decided_alike_by_both_paths(fields):
    assert_both_paths_agree(encode(order(**fields)))
    assert_both_paths_agree(encode({k: v for k, v in order(**fields).items() if k not in fields or k == "extra"}))


@pytest.mark.parametrize("ok", [True, False])
@pytest.mark.parametrize("fields", [
    {"quantity": True}, {"quantity": 1.5}, {"quantity": "2"}, {"quantity": None}, {"quantity": -3},
    {"reason": None}, {"reason": 5}, {"reason": ""}, {"item": 1}, {"item": "caviar"}, {"remaining": "x"},
    {"remaining": None}, {"order_id": ""}, {"order_id": 7}, {"event_id": None}, {"extra": 1},
    {"timestamp": STAMP.replace("Z", "+00:00")}])
def test_a_result_with_one_field_changed_is_decided_alike_by_both_paths(ok, fields):
    assert_both_paths_agree(encode(result(ok, **fields)))
    assert_both_paths_agree(encode({k: v for k, v in result(ok, **fields).items() if k not in fields}))


_keys = st.sampled_from(["event_type", "event_id", "order_id", "student_id", "item", "quantity", "timestamp",
                         "force_fail", "source_event_id", "remaining", "reason", "x"])
_values = st.one_of(json_values, st.sampled_from(["OrderPlaced", "InventoryReserved", "InventoryFailed", STAMP,
                                                  "soda", "\ud800", "é", True, 1, 2.0, MAX_QUANTITY + 1, None]))


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(["order", "reserved", "failed"]), st.dictionaries(_keys, _values, max_size=3),
       st.sets(_keys, max_size=2), st.booleans())
def test_any_event_is_decided_alike_by_both_paths(kind, changed, dropped, ascii_only):
    ev = order() if kind == "order" else result(kind == "reserved")
    ev = {k: v for k, v in (ev | changed).items() if k not in dropped}
    assert_both_paths_agree(json.dumps(ev, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass"))
