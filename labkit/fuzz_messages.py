"""Hypothesis strategies for the consumer fuzz rings of Parts B and C: batches of good orders, duplicates
(same event_id and order, another body) and bad messages, interleaved.

A bad message is one that is invalid in both parts: arbitrary bytes, deep nesting, JSON that is not an
object, huge or negative numbers, wrong types, unknown or unicode items, missing fields, empty, oversized.
The good ones use a small quantity so the test's large stock never runs out: every good order is reserved.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from hypothesis import strategies as st

from common.menu import ITEMS, MAX_QUANTITY

REQUIRED = ("event_id", "order_id", "item", "quantity")


@dataclass(frozen=True)
class Case:
    kind: str  # "good", "duplicate" (of an earlier good one: same event_id and order, another body) or "bad"
    body: bytes | None = None  # bad: the body (None: a Kafka tombstone); good and duplicate: see `realize`
    headers: tuple = ()  # (name, value) pairs
    key: bytes | None = None  # Part C's record key for a bad record (good ones are keyed by order_id)
    target: int = 0  # Part B: which consumer's queue gets a bad message (index into the part's list)
    item: str = ""
    quantity: int = 0
    of: int | None = None  # duplicate: index (in the batch) of the good case it copies
    why: str = field(default="", compare=False)  # what kind of bad, for the failure report


def realize(cases: list[Case], template, numbers) -> list[tuple[bytes | None, dict | None]]:
    """Each case's body, and for good and duplicate cases the order it carries. Ids come from `numbers` (an
    iterator of ints never seen before by the stack), so examples never collide across a test run."""
    out: list[tuple[bytes | None, dict | None]] = []
    for c in cases:
        if c.kind == "bad":
            out.append((c.body, None))
            continue
        if c.kind == "good":
            ev = order(template, next(numbers), c.item, c.quantity)
        else:
            ev = out[c.of][1] | {"item": c.item, "quantity": c.quantity, "student_id": "duplicate"}
        out.append((encode(ev), ev))
    return out


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(10**30), 10**30),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)

# Values that make each required field invalid in both parts (strict types: "2" is not 2, True is not 1).
_not_a_quantity = st.one_of(st.integers(-(10**30), 0), st.integers(MAX_QUANTITY + 1, 10**30), st.booleans(),
                            st.floats(), st.text(max_size=5), st.none(), st.lists(st.integers(1, 5), max_size=2))
_not_an_item = st.one_of(st.text(max_size=70).filter(lambda s: s not in ITEMS), st.integers(), st.none(),
                         st.lists(st.sampled_from(ITEMS), max_size=2), st.sampled_from([i.upper() for i in ITEMS]))
_not_an_id = st.one_of(st.integers(), st.none(), st.booleans(), st.just(""), st.text(min_size=129, max_size=140),
                       st.lists(st.text(max_size=3), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(),
                                                                                  max_size=2))
BAD_FIELD = {"quantity": _not_a_quantity, "item": _not_an_item, "event_id": _not_an_id, "order_id": _not_an_id}


def order(template, n: int, item: str, quantity: int) -> dict:
    """A valid OrderPlaced for the part (its `template(order_id, event_id, item, quantity)`)."""
    return template(f"ORD-1795590180000-{n:08x}", f"{n % 16**32:032x}", item, quantity)


def encode(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


# Part C requires an ISO 8601 time with a zone: times at the ends of the calendar, no zone, not a time at all.
bad_timestamps = st.one_of(
    st.sampled_from(["0001-01-01T00:30:00+01:00", "9999-12-31T23:59:59-01:00", "2026-11-25T07:00:00", "noon", ""]),
    st.datetimes().map(lambda d: d.isoformat()), st.integers(), st.floats(), st.none(), st.text(max_size=30))


@st.composite
def bad_body(draw, template, max_bytes: int, timestamps: bool = False) -> tuple[str, bytes | None]:
    """One bad body and what kind of bad it is. `timestamps`: also bad timestamps (invalid in Part C only)."""
    base = order(template, draw(st.integers(0, 2**31)), draw(st.sampled_from(ITEMS)), 1)
    kinds = ["bytes", "empty", "deep", "deep_field", "not_object", "text", "wrong_field", "missing_field",
             "oversized", "huge_literal", "tombstone", "unicode_item"]
    kind = draw(st.sampled_from(kinds + ["timestamp"] * timestamps))
    if kind == "timestamp":
        return kind, encode(base | {"timestamp": draw(bad_timestamps)})
    if kind == "bytes":
        return kind, draw(st.binary(min_size=1, max_size=300).filter(lambda b: b.strip()[:1] != b"{"))
    if kind == "empty":
        return kind, draw(st.sampled_from([b"", b" ", b"{}", b"null", b"\n"]))
    if kind == "deep":  # up to about 60 KB (and beyond the size limit now and then)
        n = draw(st.integers(900, 34_000))
        opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}")]))
        return kind, opener * n + b"1" * (opener == b'{"a":') + closer * n
    if kind == "deep_field":
        n = draw(st.integers(3_000, 20_000))  # beyond any parser's depth limit: never a valid order
        return kind, encode(base)[:-1] + b',"x":' + b"[" * n + b"]" * n + b"}"
    if kind == "not_object":
        return kind, encode(draw(json_values.filter(lambda v: not isinstance(v, dict))))
    if kind == "text":
        return kind, draw(st.text(min_size=1, max_size=200)).encode("utf-8", "surrogatepass")
    if kind == "wrong_field":
        name = draw(st.sampled_from(REQUIRED))
        return kind, encode(base | {name: draw(BAD_FIELD[name])})
    if kind == "missing_field":
        gone = draw(st.sets(st.sampled_from(REQUIRED), min_size=1))
        return kind, encode({k: v for k, v in base.items() if k not in gone})
    if kind == "oversized":
        return kind, encode(base | {"pad": "x" * (max_bytes + draw(st.integers(1, 2000)))})
    if kind == "huge_literal":  # an integer over Python's 4300-digit limit
        return kind, encode(base).replace(b'"quantity":1', b'"quantity":' + b"9" * draw(st.integers(4301, 6000)))
    if kind == "tombstone":
        return kind, None
    return kind, encode(base | {"item": draw(st.text(min_size=1, max_size=10).filter(lambda s: s not in ITEMS))})


header_names = st.text(min_size=1, max_size=20)


@st.composite
def batches(draw, template, max_bytes: int, header_values, targets: int = 1, tombstones: bool = False,
            timestamps: bool = False, max_size: int = 40) -> list[Case]:
    """One batch: good orders, duplicates of them with another body, bad messages, in a random order."""
    cases: list[Case] = []
    goods: list[int] = []
    for _ in range(draw(st.integers(1, max_size))):
        headers = tuple(draw(st.lists(st.tuples(header_names, header_values), max_size=3)))
        roll = draw(st.integers(0, 9))
        if roll < 4 or not goods and roll < 6:
            goods.append(len(cases))
            cases.append(Case("good", headers=headers, item=draw(st.sampled_from(ITEMS)),
                              quantity=draw(st.integers(1, 3))))
        elif roll < 6:
            cases.append(Case("duplicate", headers=headers, item=draw(st.sampled_from(ITEMS)),
                              quantity=draw(st.integers(1, 9)), of=draw(st.sampled_from(goods))))
        else:
            why, body = draw(bad_body(template, max_bytes, timestamps))
            if body is None and not tombstones:
                why, body = "empty", b""
            key = draw(st.one_of(st.none(), st.binary(max_size=40))) if body is not None else b"tombstone"
            cases.append(Case("bad", body, headers, key=key, target=draw(st.integers(0, targets - 1)), why=why))
    return cases
