"""The analytics computation, pure: events in, the contract's metrics out, by event time.

State is keyed by `order_id`, so a record delivered twice (a producer retry, a re-produced result after
an inventory crash, a rewind) is counted once; the first result of an order in its partition wins. The
output depends only on the set of events, never on arrival order or wall-clock time: the same log gives
byte-identical `metrics_output.json`, live or replayed.
"""
from __future__ import annotations

import json
from collections import Counter
from datetime import datetime

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
    def __init__(self, max_bytes: int | None = None):
        self.max_bytes = max_bytes  # larger records are what the inventory consumer dead-letters (oversized)
        self.orders: dict[str, int] = {}  # order_id -> minute
        self.results: dict[str, tuple] = {}  # order_id -> (reserved?, reason, minute, item, quantity)
        self.duplicates = 0
        self.invalid = 0
        self.version = 0  # bumps on every change: lets the writer skip unchanged state

    def add(self, raw: bytes | None) -> bool:
        """Fold one record value in; False when it was a duplicate or not a usable event."""
        return self.add_many((raw,)) == 1

    def add_many(self, values) -> int:
        """Fold record values in, in order; returns how many changed the state (the hot loop of a replay)."""
        # The inventory consumer's own decoder (size and depth limits included): what it dead-letters is no event.
        orders, results, memo, decode = self.orders, self.results, _MINUTES, decode_json
        changed, limit = 0, self.max_bytes
        for raw in values:
            try:
                ev = decode(raw, limit)
                kind, order_id, stamp = ev["event_type"], ev["order_id"], ev["timestamp"]
                minute = memo.get(stamp[:16]) if len(stamp) == 24 and stamp[-1] == "Z" else None
                if minute is None:
                    minute = minute_of(stamp)
                if type(order_id) is not str:
                    raise TypeError("order_id")
            except (TypeError, ValueError, KeyError, AttributeError):
                self.invalid += 1
                continue
            if kind == ORDER_PLACED:
                q, item = ev.get("quantity"), ev.get("item")
                # What the inventory consumer would dead-letter is not an order (the cheap part of its checks).
                if type(item) is not str or item not in _ITEMS or type(q) is not int or not 1 <= q <= MAX_QUANTITY \
                        or type(ev.get("event_id")) is not str:
                    self.invalid += 1
                elif order_id in orders:
                    self.duplicates += 1
                elif not _is_order(ev):  # the full check, once per new order
                    self.invalid += 1
                else:
                    orders[order_id] = minute
                    changed += 1
            elif kind == RESERVED or kind == FAILED:
                if order_id in results:
                    self.duplicates += 1
                else:
                    ok = kind == RESERVED
                    results[order_id] = (ok, None if ok else str(ev.get("reason")), minute,
                                         str(ev.get("item")), ev.get("quantity") if ok else 0)
                    changed += 1
            else:
                self.invalid += 1
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

    def metrics(self) -> dict:
        per_minute = Counter(self.orders.values())
        failures: Counter[int] = Counter()
        reserved: Counter[int] = Counter()
        reasons: Counter[str | None] = Counter()
        units: Counter[str] = Counter()
        for ok, reason, minute, item, qty in self.results.values():
            if ok:
                reserved[minute] += 1
                units[item] += qty if isinstance(qty, int) else 0
            else:
                failures[minute] += 1
                reasons[reason] += 1
        total = len(self.orders)
        n_ok, n_failed = sum(reserved.values()), sum(failures.values())
        buckets = sorted(per_minute)
        duration = (buckets[-1] - buckets[0]) // 60 + 1 if buckets else 0
        pending = sum(1 for o in self.orders if o not in self.results)
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
            "failure_reasons": dict(sorted(reasons.items())),
            "reserved_units_by_item": dict(sorted(units.items())),
            "orders_pending": pending,
            "results_without_order": sum(1 for o in self.results if o not in self.orders),
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
