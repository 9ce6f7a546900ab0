"""The analytics computation, pure: events in, the contract's metrics out, by event time.

State is keyed by `order_id`, so a record delivered twice (a producer retry, a re-produced result after
an inventory crash, a rewind) is counted once; the first result of an order in its partition wins. The
output depends only on the set of events, never on arrival order or wall-clock time: the same log gives
byte-identical `metrics_output.json`, live or replayed.
"""
from __future__ import annotations

import json
import re
import sys
from collections import Counter
from datetime import datetime

from common.menu import ITEMS, MAX_QUANTITY
from common.schemas import InvalidInput, decode_json
from common.vocabulary import OrderStatus
from streaming_kafka.analytics_consumer.plain_events import PlainOrder, PlainRefused, PlainReserved, decode_plain
from streaming_kafka.events import FAILED, ORDER_PLACED, RESERVED, check_order_placed, epoch_ms

_ITEMS = frozenset(ITEMS)


def _is_order(ev: dict) -> bool:
    """Exactly what the inventory consumer accepts (its own validator), so an order it dead-letters is not
    counted here as an order forever pending."""
    try:
        check_order_placed(ev)
    except InvalidInput:
        return False
    return True


# Our own timestamps (`iso_ms`): a minute (checked when it entered the memo), then seconds and milliseconds.
_OWN_STAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-5][0-9]\.[0-9]{3}Z")


def _plainly_an_order(ev: dict, order_id: str, stamp) -> bool:
    """True only for an `OrderPlaced` that `check_order_placed` accepts, shown without pydantic: ASCII ids and
    student within their lengths, an optional boolean flag, and one of our own timestamps on a known minute (the
    caller checked the type, item and quantity). False says nothing: the full check then decides."""
    event_id, student, flag = ev["event_id"], ev.get("student_id", ""), ev.get("force_fail", False)
    return (0 < len(event_id) <= 128 and event_id.isascii() and 0 < len(order_id) <= 128 and order_id.isascii()
            and type(student) is str and len(student) <= 64 and student.isascii() and type(flag) is bool
            and type(stamp) is str and stamp[:16] in _MINUTES and _OWN_STAMP.fullmatch(stamp) is not None)


_MINUTES: dict[str, int] = {}  # "YYYY-MM-DDTHH:MM" -> minute start: our own timestamps repeat their minute
# Our own timestamps seen, each a valid time, -> their minute: a producer stamps many events alike (/bulk a thousand at
# a time, the inventory consumer a batch's results), so the plain path checks a timestamp with one lookup.
_STAMPS: dict[str, int] = {}


def minute_of(stamp: str) -> int:
    """Start of the event's UTC minute, in Unix seconds; ValueError for a bad timestamp."""
    if len(stamp) == 24 and stamp[-1] == "Z":  # our own `YYYY-MM-DDTHH:MM:SS.mmmZ`: memo by minute prefix
        key = stamp[:16]
        minute = _MINUTES.get(key)
        if minute is None:
            minute = int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()) // 60 * 60
            if len(_MINUTES) > 100_000:
                _MINUTES.clear()
            _MINUTES[key] = minute
        return minute
    return epoch_ms(stamp) // 60_000 * 60


class MetricsState:
    """The analytics state, keyed by order id, and the aggregates of the metrics kept up to date as it grows:
    `metrics()` costs what was folded in since the last call plus the number of minute buckets, never a pass
    over every order held (a live consumer renders it every METRICS_INTERVAL_S, with millions of orders)."""

    def __init__(self, max_bytes: int | None = None):
        self.max_bytes = max_bytes  # larger records are what the inventory consumer dead-letters (oversized)
        self.orders: dict[str, int] = {}  # order_id -> minute
        self.results: dict[str, tuple] = {}  # order_id -> (reserved?, reason, minute, item, quantity)
        self.duplicates = 0
        self.invalid = 0
        self.version = 0  # bumps on every change: lets the writer skip unchanged state
        self._matched = 0  # orders that have a result: pending and results without order follow from it
        # What the fold added since the aggregates were last brought up to date (an append per event in the
        # hot loop; the counting happens in `metrics()`).
        self._new_minutes: list[int] = []
        self._new_results: list[tuple] = []
        self._per_minute: Counter[int] = Counter()
        self._reserved: Counter[int] = Counter()
        self._failures: Counter[int] = Counter()
        self._reasons: Counter[str | None] = Counter()
        self._units: Counter[str] = Counter()

    def add(self, raw: bytes | None) -> bool:
        """Fold one record value in; False when it was a duplicate or not a usable event."""
        return self.add_many((raw,)) == 1

    def add_many(self, values) -> int:
        """Fold record values in, in order; returns how many changed the state (the hot loop of a replay)."""
        if type(values) is not list and type(values) is not tuple:
            values = list(values)  # read twice below
        orders, results, stamps, decode = self.orders, self.results, _STAMPS, decode_plain
        new_minutes, new_results = self._new_minutes.append, self._new_results.append
        duplicates = matched = 0
        before = len(orders) + len(results)  # every change adds an order or a result
        limit = self.max_bytes if self.max_bytes is not None else sys.maxsize
        full = self._add_full
        # The plain path takes a value of our own shape (`plain_events`), ASCII without escapes (so each string is
        # the value's own bytes), within the size limit, with one of our own timestamps already seen; the full path
        # decides anything else, one value at a time. The byte checks are made once for the whole batch when they
        # hold for all of it (a tombstone fails the join), else value by value.
        try:
            joined = b"".join(values)
            check = not (joined.isascii() and b"\\" not in joined and (not values or max(map(len, values)) <= limit))
        except TypeError:
            check = True
        for raw in values:
            if check and (type(raw) is not bytes or len(raw) > limit or not raw.isascii() or b"\\" in raw):
                full(raw)
                continue
            try:
                ev = decode(raw)
            except PlainRefused:
                full(raw)
                continue
            minute = stamps.get(ev.timestamp)
            if minute is None:
                full(raw)
                continue
            order_id = ev.order_id
            if type(ev) is PlainOrder:
                if order_id in orders:
                    duplicates += 1
                else:
                    orders[order_id] = minute
                    new_minutes(minute)
                    matched += order_id in results
            elif order_id in results:
                duplicates += 1
            else:
                ok = type(ev) is PlainReserved
                res = results[order_id] = (ok, None if ok else str(ev.reason), minute, ev.item,
                                           ev.quantity if ok else 0)
                new_results(res)
                matched += order_id in orders
        self.duplicates += duplicates
        self._matched += matched
        changed = len(orders) + len(results) - before
        self.version += changed
        return changed

    def _add_full(self, raw) -> None:
        """Fold one value the plain path left to it, with every check the inventory consumer makes. Counts its own
        duplicates and invalid values; the caller counts a change (an order or a result added) into `version`."""
        orders, results = self.orders, self.results
        try:
            # The inventory consumer's own decoder (size and depth limits included): what it dead-letters is no event.
            ev = decode_json(raw, self.max_bytes)
            kind, order_id, stamp = ev["event_type"], ev["order_id"], ev["timestamp"]
            minute = minute_of(stamp)
            if len(stamp) == 24 and _OWN_STAMP.fullmatch(stamp) is not None:
                if len(_STAMPS) > 100_000:
                    _STAMPS.clear()
                _STAMPS[stamp] = minute
            if type(order_id) is not str:
                raise TypeError("order_id")
        except (TypeError, ValueError, KeyError, AttributeError):
            self.invalid += 1
            return
        if kind == ORDER_PLACED:
            q, item = ev.get("quantity"), ev.get("item")
            # What the inventory consumer would dead-letter is not an order (the cheap part of its checks).
            if type(item) is not str or item not in _ITEMS or type(q) is not int or not 1 <= q <= MAX_QUANTITY \
                    or type(ev.get("event_id")) is not str:
                self.invalid += 1
            elif order_id in orders:
                self.duplicates += 1
            elif not (_plainly_an_order(ev, order_id, stamp) or _is_order(ev)):  # the full check, if in doubt
                self.invalid += 1
            else:
                orders[order_id] = minute
                self._new_minutes.append(minute)
                self._matched += order_id in results
        elif kind == RESERVED or kind == FAILED:
            if order_id in results:
                self.duplicates += 1
            else:
                ok = kind == RESERVED
                res = results[order_id] = (ok, None if ok else str(ev.get("reason")), minute,
                                           str(ev.get("item")), ev.get("quantity") if ok else 0)
                self._new_results.append(res)
                self._matched += order_id in orders
        else:
            self.invalid += 1

    def order_status(self, order_id: str) -> dict | None:
        res = self.results.get(order_id)
        if res is not None:
            body = {"order_id": order_id, "status": OrderStatus.CONFIRMED if res[0] else OrderStatus.FAILED}
            return body if res[0] else body | {"reason": res[1]}
        if order_id in self.orders:
            return {"order_id": order_id, "status": OrderStatus.PENDING}
        return None

    def _catch_up(self) -> None:
        """Count what the fold added since the last call into the aggregates."""
        if self._new_minutes:
            self._per_minute.update(self._new_minutes)
            self._new_minutes.clear()
        reserved, failures, reasons, units = self._reserved, self._failures, self._reasons, self._units
        for ok, reason, minute, item, qty in self._new_results:
            if ok:
                reserved[minute] += 1
                units[item] += qty if isinstance(qty, int) else 0
            else:
                failures[minute] += 1
                reasons[reason] += 1
        self._new_results.clear()

    def metrics(self) -> dict:
        self._catch_up()
        per_minute, failures, reserved = self._per_minute, self._failures, self._reserved
        total = len(self.orders)
        n_ok, n_failed = sum(reserved.values()), sum(failures.values())
        buckets = sorted(per_minute)
        duration = (buckets[-1] - buckets[0]) // 60 + 1 if buckets else 0
        return {
            "total_orders_seen": total,
            "total_reserved": n_ok,
            "total_failed": n_failed,
            "duration_minutes": duration,
            "avg_orders_per_minute": round(total / duration, 2) if duration else 0.0,
            "failure_rate_percent": round(100 * n_failed / (n_ok + n_failed), 2) if n_ok + n_failed else 0.0,
            "orders_per_minute_buckets": _keyed(per_minute),
            "failures_per_minute_buckets": _keyed(failures),
            "reserved_per_minute_buckets": _keyed(reserved),
            "failure_reasons": dict(sorted(self._reasons.items())),
            "reserved_units_by_item": dict(sorted(self._units.items())),
            "orders_pending": total - self._matched,
            "results_without_order": len(self.results) - self._matched,
            "first_minute": buckets[0] if buckets else None,
            "last_minute": buckets[-1] if buckets else None,
            "duplicate_events_ignored": self.duplicates,
            "invalid_events_skipped": self.invalid,
        }


def _keyed(counter: Counter) -> dict[str, int]:
    return {str(k): counter[k] for k in sorted(counter)}


def render(metrics: dict) -> str:
    """The file's exact text: one rendering for the live file, `/metrics` and replays."""
    return json.dumps(metrics, indent=2) + "\n"
