"""The analytics computation: by event time, deterministic, keyed by order (duplicates count once)."""
import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.menu import MAX_QUANTITY
from labkit.fuzz_messages import bad_body, json_values
from streaming_kafka.analytics_consumer.metrics import MetricsState, minute_of, render
from streaming_kafka.events import OrderPlaced, encode, iso_ms

pytestmark = pytest.mark.unit

T0 = 1_795_590_180_000  # a minute boundary, in ms


def placed(n: int, ts_ms: int) -> bytes:
    return OrderPlaced.new(order_id=f"ORD-{n}", event_id=f"{n:032x}", student_id="s",
                           item="pizza", quantity=1, ts_ms=ts_ms).to_bytes()


def result(n: int, ts_ms: int, ok: bool, reason: str = "out_of_stock", item: str = "pizza", qty: int = 1) -> bytes:
    ev = {"event_type": "InventoryReserved" if ok else "InventoryFailed", "event_id": f"r{n}", "order_id": f"ORD-{n}",
          "item": item, "quantity": qty, "timestamp": iso_ms(ts_ms)}
    ev |= {"remaining": 1} if ok else {"reason": reason}
    return encode(ev)


def test_minute_buckets_edges():
    assert minute_of(iso_ms(T0)) == T0 // 1000
    assert minute_of(iso_ms(T0 + 59_999)) == T0 // 1000
    assert minute_of(iso_ms(T0 + 60_000)) == T0 // 1000 + 60
    assert minute_of(iso_ms(T0 - 1)) == T0 // 1000 - 60
    assert minute_of("2026-11-25T08:00:59.999+01:00") == minute_of("2026-11-25T07:00:00.000Z")
    with pytest.raises(ValueError):
        minute_of("2026-11-25T07:00:00")  # no zone
    with pytest.raises(ValueError):
        minute_of("yesterday")


def test_contract_fields_and_values():
    s = MetricsState()
    for n in range(10):
        s.add(placed(n, T0 + n * 10_000))  # 0..90 s: two minutes
        s.add(result(n, T0 + n * 10_000 + 500, ok=n % 5 != 0, reason="forced_failure"))
    m = s.metrics()
    for key in ("total_orders_seen", "total_reserved", "total_failed", "duration_minutes", "avg_orders_per_minute",
                "failure_rate_percent", "orders_per_minute_buckets", "failures_per_minute_buckets"):
        assert key in m
    assert (m["total_orders_seen"], m["total_reserved"], m["total_failed"]) == (10, 8, 2)
    assert m["duration_minutes"] == 2
    assert m["avg_orders_per_minute"] == 5.0
    assert m["failure_rate_percent"] == 20.0
    first = str(T0 // 1000)
    second = str(T0 // 1000 + 60)
    assert m["orders_per_minute_buckets"] == {first: 6, second: 4}
    assert m["failures_per_minute_buckets"] == {first: 2}  # orders 0 and 5 (at 0 s and 50 s)
    assert m["failure_reasons"] == {"forced_failure": 2}
    assert m["reserved_units_by_item"] == {"pizza": 8}
    assert m["orders_pending"] == 0


def test_duplicates_count_once_and_first_result_wins():
    s = MetricsState()
    s.add(placed(1, T0))
    s.add(placed(1, T0))
    s.add(result(1, T0, ok=True))
    s.add(result(1, T0 + 1, ok=False))
    m = s.metrics()
    assert (m["total_orders_seen"], m["total_reserved"], m["total_failed"]) == (1, 1, 0)
    assert m["duplicate_events_ignored"] == 2
    assert s.order_status("ORD-1") == {"order_id": "ORD-1", "status": "confirmed"}
    assert s.order_status("ORD-2") is None


def test_pending_and_invalid():
    s = MetricsState()
    s.add(placed(1, T0))
    for bad in (b"not json", None, b"[]", b'{"event_type": "OrderPlaced"}', b'{"event_type":"X","order_id":"a",'
                b'"timestamp":"2026-11-25T07:00:00.000Z"}', b'{"event_type":"OrderPlaced","order_id":1,'
                b'"timestamp":"2026-11-25T07:00:00.000Z"}'):
        assert s.add(bad) is False
    unknown_item = OrderPlaced.new(order_id="ORD-9", event_id="9" * 32, student_id="s",
                                   item="pizza", quantity=1, ts_ms=T0).to_bytes().replace(b'"pizza"', b'"caviar"')
    assert s.add(unknown_item) is False  # dead-lettered by inventory: not an order
    m = s.metrics()
    assert m["orders_pending"] == 1 and m["invalid_events_skipped"] == 7 and m["total_orders_seen"] == 1
    assert s.order_status("ORD-1")["status"] == "pending"


def test_empty_state_renders():
    m = MetricsState().metrics()
    assert m["total_orders_seen"] == 0 and m["duration_minutes"] == 0 and m["failure_rate_percent"] == 0.0
    json.loads(render(m))


events = st.lists(st.tuples(st.integers(0, 30), st.integers(0, 5 * 60_000), st.booleans(), st.booleans()),
                  max_size=60)


@settings(max_examples=200, deadline=None)
@given(events, st.randoms(use_true_random=False))
def test_same_events_any_order_and_duplicates_give_identical_bytes(evs, rnd: random.Random):
    records = []
    for n, dt, ok, with_result in evs:
        records.append(placed(n, T0 + dt))
        if with_result:
            records.append(result(n, T0 + dt + 100, ok))
    # Distinct orders only keep their first placed/result in a partition; give each order one version.
    seen: dict = {}
    for r in records:
        ev = json.loads(r)
        seen.setdefault((ev["order_id"], ev["event_type"] == "OrderPlaced"), r)
    unique = list(seen.values())
    a, b = MetricsState(), MetricsState()
    for r in unique:
        a.add(r)
    shuffled = unique + unique[: len(unique) // 2]  # redeliveries
    rnd.shuffle(shuffled)
    for r in shuffled:
        b.add(r)
    ma, mb = a.metrics(), b.metrics()
    ma.pop("duplicate_events_ignored")
    mb.pop("duplicate_events_ignored")
    assert render(ma) == render(mb)


@pytest.mark.parametrize("field, value", [("item", ["pizza"]), ("item", {"a": 1}), ("order_id", ["x"]),
                                          ("timestamp", ["2026-11-25T07:03:00.123Z"] * 23 + ["Z"]),
                                          ("event_type", [1]), ("quantity", 10**30),
                                          ("timestamp", "0001-01-01T00:30:00+01:00")])
def test_ill_typed_fields_are_skipped_not_a_crash(field, value):
    state = MetricsState()
    ev = json.loads(placed(1, T0))
    ev[field] = value
    assert state.add_many([json.dumps(ev).encode(), b"[" * 30_000 + b"]" * 30_000, b"\xff", None, b""]) == 0
    assert state.invalid == 5 and state.add(placed(2, T0))


def test_an_oversized_order_is_not_an_order_as_the_inventory_consumer_dead_letters_it():
    state = MetricsState(max_bytes=1024)
    big = json.loads(placed(1, T0)) | {"pad": "x" * 2000}
    assert state.add_many([json.dumps(big).encode(), placed(2, T0)]) == 1 and state.invalid == 1


def _template(order_id, event_id, item, quantity):
    return OrderPlaced.new(order_id=order_id, event_id=event_id, student_id="s", item=item, quantity=quantity, ts_ms=T0).to_dict()


_fields = st.dictionaries(st.sampled_from(["event_id", "order_id", "student_id", "timestamp", "force_fail",
                                           "quantity", "item"]), json_values, max_size=2)


@settings(max_examples=300, deadline=None)
@given(st.one_of(bad_body(_template, 4096, timestamps=True).map(lambda kb: kb[1]),
                 _fields.map(lambda f: encode(OrderPlaced.new(order_id="ORD-1", event_id="e" * 32, student_id="s",
                                                              item="soda", quantity=1, ts_ms=T0).to_dict() | f))))
def test_analytics_counts_an_order_exactly_when_the_inventory_consumer_accepts_it(raw):
    from common.schemas import InvalidInput
    from streaming_kafka.events import parse_order_placed

    try:
        parse_order_placed(raw, 4096)
        accepted = True
    except InvalidInput:
        accepted = False
    assert MetricsState(max_bytes=4096).add(raw) == accepted


def recomputed(state: MetricsState) -> dict:
    """The metrics counted afresh from every order and result the state holds (what `metrics()` keeps up to date
    as the state grows, without a pass over them)."""
    from collections import Counter
    per_minute = Counter(state.orders.values())
    reserved, failures, reasons, units = Counter(), Counter(), Counter(), Counter()
    for ok, reason, minute, item, qty in state.results.values():
        if ok:
            reserved[minute] += 1
            units[item] += qty if isinstance(qty, int) else 0
        else:
            failures[minute] += 1
            reasons[reason] += 1
    total, n_ok, n_failed = len(state.orders), sum(reserved.values()), sum(failures.values())
    buckets = sorted(per_minute)
    duration = (buckets[-1] - buckets[0]) // 60 + 1 if buckets else 0
    return {"total_orders_seen": total, "total_reserved": n_ok, "total_failed": n_failed,
            "duration_minutes": duration, "avg_orders_per_minute": round(total / duration, 2) if duration else 0.0,
            "failure_rate_percent": round(100 * n_failed / (n_ok + n_failed), 2) if n_ok + n_failed else 0.0,
            "orders_per_minute_buckets": {str(k): per_minute[k] for k in sorted(per_minute)},
            "failures_per_minute_buckets": {str(k): failures[k] for k in sorted(failures)},
            "reserved_per_minute_buckets": {str(k): reserved[k] for k in sorted(reserved)},
            "failure_reasons": dict(sorted(reasons.items())), "reserved_units_by_item": dict(sorted(units.items())),
            "orders_pending": sum(1 for o in state.orders if o not in state.results),
            "results_without_order": sum(1 for o in state.results if o not in state.orders),
            "first_minute": buckets[0] if buckets else None, "last_minute": buckets[-1] if buckets else None,
            "duplicate_events_ignored": state.duplicates, "invalid_events_skipped": state.invalid}


_records = st.lists(st.one_of(
    st.tuples(st.integers(0, 20), st.integers(0, 4 * 60_000)).map(lambda t: placed(*t)),
    st.tuples(st.integers(0, 20), st.integers(0, 4 * 60_000), st.booleans(), st.sampled_from(["out_of_stock", "x"]),
              st.sampled_from(["pizza", "soda"]), st.one_of(st.integers(0, 3), st.booleans(), st.just("2")))
    .map(lambda t: result(t[0], T0 + t[1], t[2], t[3], t[4], t[5])),
    st.sampled_from([b"not json", b"{}", None, b'{"event_type":"X","order_id":"a","timestamp":"2026-11-25T07:00:00Z"}'])),
    max_size=80)


@settings(max_examples=40, deadline=None)
@given(_records, st.lists(st.integers(1, 20), min_size=1, max_size=10))
def test_the_kept_up_metrics_equal_a_count_over_the_whole_state_after_every_fold(records, chunks):
    state, i = MetricsState(), 0
    while i < len(records):
        for size in chunks:
            state.add_many(records[i:i + size])
            i += size
            assert state.metrics() == recomputed(state)
    assert state.metrics() == recomputed(state)


@pytest.mark.parametrize("field, value", [
    ("timestamp", iso_ms(T0)[:17] + "60.000Z"), ("timestamp", iso_ms(T0)[:17] + "0a.000Z"),
    ("timestamp", iso_ms(T0)[:19] + ".0000"), ("timestamp", iso_ms(T0).replace("Z", "+00:00")),
    ("event_id", "e" * 128), ("event_id", "e" * 129), ("event_id", ""), ("event_id", "é" * 10),
    ("order_id", "o" * 129), ("order_id", "ORD-é"), ("student_id", "s" * 64), ("student_id", "s" * 65),
    ("student_id", None), ("student_id", "\udc80"), ("force_fail", 1), ("force_fail", None), ("force_fail", True),
    ("event_type", "OrderPlaced\n"), ("quantity", True), ("quantity", MAX_QUANTITY), ("quantity", 1.0)])
def test_an_order_on_a_known_minute_is_counted_exactly_when_the_inventory_consumer_accepts_it(field, value):
    from common.schemas import InvalidInput
    from streaming_kafka.events import parse_order_placed

    state = MetricsState(max_bytes=4096)
    assert state.add(placed(0, T0 + 1234))  # its minute is known from here on
    raw = json.dumps(json.loads(placed(1, T0)) | {field: value}).encode()
    try:
        parse_order_placed(raw, 4096)
        accepted = True
    except InvalidInput:
        accepted = False
    assert state.add(raw) == accepted
