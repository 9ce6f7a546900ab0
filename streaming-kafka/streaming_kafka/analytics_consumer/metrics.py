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

import orjson

from common.menu import ITEMS, MAX_QUANTITY
from common.schemas import InvalidInput, decode_json
from common.vocabulary import OrderStatus
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
        # The inventory consumer's own decoder (size and depth limits included): what it dead-letters is no event.
        orders, results, memo, decode, loads = self.orders, self.results, _MINUTES, decode_json, orjson.loads
        new_minutes, new_results = self._new_minutes.append, self._new_results.append
        changed = duplicates = invalid = matched = 0
        limit = self.max_bytes
        fast_limit = limit if limit is not None else sys.maxsize
        for raw in values:
            try:
                # decode_json's own path for a flat value within the limits (one opening brace, no bracket, so
                # nothing to walk for depth), without its call; anything else, orjson's refusals too, goes to it.
                if type(raw) is bytes and len(raw) <= fast_limit and raw.count(b"{") + raw.count(b"[") == 1:
                    try:
                        ev = loads(raw)
                    except orjson.JSONDecodeError:
                        ev = decode(raw, limit)
                else:
                    ev = decode(raw, limit)
                kind, order_id, stamp = ev["event_type"], ev["order_id"], ev["timestamp"]
                minute = memo.get(stamp[:16]) if len(stamp) == 24 and stamp[-1] == "Z" else None
                if minute is None:
                    minute = minute_of(stamp)
                if type(order_id) is not str:
                    raise TypeError("order_id")
            except (TypeError, ValueError, KeyError, AttributeError):
                invalid += 1
                continue
            if kind == ORDER_PLACED:
                q, item = ev.get("quantity"), ev.get("item")
                # What the inventory consumer would dead-letter is not an order (the cheap part of its checks).
                if type(item) is not str or item not in _ITEMS or type(q) is not int or not 1 <= q <= MAX_QUANTITY \
                        or type(ev.get("event_id")) is not str:
                    invalid += 1
                elif order_id in orders:
                    duplicates += 1
                elif not (_plainly_an_order(ev, order_id, stamp) or _is_order(ev)):  # the full check, if in doubt
                    invalid += 1
                else:
                    orders[order_id] = minute
                    new_minutes(minute)
                    matched += order_id in results
                    changed += 1
            elif kind == RESERVED or kind == FAILED:
                if order_id in results:
                    duplicates += 1
                else:
                    ok = kind == RESERVED
                    res = results[order_id] = (ok, None if ok else str(ev.get("reason")), minute,
                                               str(ev.get("item")), ev.get("quantity") if ok else 0)
                    new_results(res)
                    matched += order_id in orders
                    changed += 1
            else:
                invalid += 1
        self.duplicates += duplicates
        self.invalid += invalid
        self._matched += matched
        self.version += changed
        return changed

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
