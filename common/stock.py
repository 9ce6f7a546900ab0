"""The stock and reservation core shared by all three parts.

`decide()` is the rule, pure: reserve N of an item or refuse. `StockStore`
applies it durably in SQLite (WAL): each reservation runs in one
`BEGIN IMMEDIATE` transaction that takes the database write lock, so
concurrent reservations from any number of threads or processes are
serialised and can never oversell; a CHECK constraint backs this up, stock
can never go negative. Every reservation is recorded under a caller-chosen
key (order id or event id) in the same transaction as the stock change, so a
retried or redelivered request returns the first outcome and changes nothing.
"""
from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, NamedTuple

import orjson

from .menu import INITIAL_STOCK
from .sqlite import Database
from .vocabulary import ReservationOutcome


class Decision(NamedTuple):
    # a tuple, immutable like a frozen dataclass at a third of its cost to make: a consumer decides once per order
    outcome: ReservationOutcome
    remaining: int | None


_UNKNOWN = Decision(ReservationOutcome.UNKNOWN_ITEM, None)
_make = tuple.__new__  # what Decision(...) calls, without its Python-level __new__ in between


def decide(available: int | None, quantity: int) -> Decision:
    """The rule: with `available` units (None: no such item), reserve `quantity` or refuse."""
    if quantity < 1:
        raise ValueError("quantity must be at least 1")
    if available is None:
        return _UNKNOWN
    if available < quantity:
        return _make(Decision, (ReservationOutcome.OUT_OF_STOCK, available))
    return _make(Decision, (ReservationOutcome.RESERVED, available - quantity))


class ReserveRequest(NamedTuple):
    # a tuple (a fifth of a frozen dataclass's cost to make): a consumer makes one per order
    key: str
    item: str
    quantity: int
    reject_reason: str | None = None  # set: record a refusal without touching stock
    payload: Mapping | None = None  # stored with the outcome (e.g. the result event to re-publish)


@dataclass(frozen=True)
class Reservation:
    key: str
    item: str
    quantity: int
    outcome: ReservationOutcome
    remaining: int | None
    reason: str | None = None
    duplicate: bool = False  # True: this key was seen before; nothing changed now
    payload: dict | None = field(default=None, compare=False)

    @property
    def ok(self) -> bool:
        return self.outcome == ReservationOutcome.RESERVED


_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS stock (
        item TEXT PRIMARY KEY,
        qty  INTEGER NOT NULL CHECK (qty >= 0))""",
    """CREATE TABLE IF NOT EXISTS reservations (
        key        TEXT PRIMARY KEY,
        item       TEXT NOT NULL,
        quantity   INTEGER NOT NULL,
        outcome    TEXT NOT NULL,
        remaining  INTEGER,
        reason     TEXT,
        payload    TEXT,
        created_at REAL NOT NULL)""",
    # `reset_after`: the highest reservation rowid at the last reset (rowids only grow: nothing is deleted).
    """CREATE TABLE IF NOT EXISTS marks (
        name  TEXT PRIMARY KEY,
        value INTEGER NOT NULL)""",
)
# The reservations made since the last reset: what /reservations reports.
_SINCE_RESET = "rowid > COALESCE((SELECT value FROM marks WHERE name = 'reset_after'), 0)"


class StockStore:
    """Durable, concurrency-safe stock. One SQLite connection per thread; safe across processes."""

    def __init__(self, path: str | Path, initial: Mapping[str, int] = INITIAL_STOCK, synchronous: str = "NORMAL"):
        self.path = str(path)
        self.initial = dict(initial)  # what reset() restores when no stock is given
        self.db = Database(path, synchronous, _SCHEMA)
        with self.db.transaction() as db:
            db.executemany("INSERT OR IGNORE INTO stock(item, qty) VALUES (?, ?)", list(initial.items()))

    def _conn(self) -> sqlite3.Connection:
        return self.db.conn()

    def close(self) -> None:
        self.db.close()

    # -- reservations ----------------------------------------------------
    def reserve(self, item: str, quantity: int, key: str, payload: Mapping | None = None) -> Reservation:
        return self.reserve_many([ReserveRequest(key, item, quantity, payload=payload)])[0]

    def reserve_many(self, requests: Iterable[ReserveRequest]) -> list[Reservation]:
        """Apply several reservations in one transaction (one lock, one commit), in order: the same outcomes as
        one at a time, with one read of the keys and the stock and one write of each table per batch (four
        statements per order were about a third of a consumer's CPU)."""
        return [Reservation(*row) for row in self.reserve_rows(requests)]

    def reserve_rows(self, requests: Iterable[tuple]) -> list[tuple]:
        """`reserve_many` with plain tuples: each request `ReserveRequest`'s fields, each outcome `Reservation`'s,
        in their order (no object per order: Part C's consumer reserves tens of thousands a second)."""
        requests = list(requests)
        with self.db.transaction() as db:
            return self._apply_many(db, requests)

    def _apply_many(self, db: sqlite3.Connection, requests: list[tuple]) -> list[tuple]:
        # The write lock is held (BEGIN IMMEDIATE): what is read here cannot change until the commit.
        seen = self._recorded(db, list(dict.fromkeys(r[0] for r in requests)))
        stock = dict(db.execute("SELECT item, qty FROM stock").fetchall())
        changed: set[str] = set()
        rows, results = [], []
        for key, item, quantity, reject_reason, payload in requests:
            if key in seen:
                item, quantity, outcome, remaining, reason, text = seen[key]
                results.append((key, item, quantity, ReservationOutcome(outcome), remaining, reason, True,
                                orjson.loads(text) if text else None))
                continue
            if reject_reason is not None:
                outcome, remaining, reason = ReservationOutcome.REJECTED, None, reject_reason
            else:
                decision = decide(stock.get(item), quantity)
                outcome, remaining = decision.outcome, decision.remaining
                if outcome == ReservationOutcome.RESERVED:
                    stock[item] = remaining
                    changed.add(item)
                    reason = None
                else:
                    reason = outcome
            payload = dict(payload) if payload is not None else None
            text = orjson.dumps(payload).decode() if payload is not None else None
            rows.append((key, item, quantity, outcome, remaining, reason, text, time.time()))
            seen[key] = (item, quantity, outcome, remaining, reason, text)
            results.append((key, item, quantity, outcome, remaining, reason, False, payload))
        db.executemany("UPDATE stock SET qty = ? WHERE item = ?", [(stock[item], item) for item in changed])
        db.executemany("INSERT INTO reservations(key, item, quantity, outcome, remaining, reason, payload, created_at)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        return results

    @staticmethod
    def _recorded(db: sqlite3.Connection, keys: list[str], chunk: int = 500) -> dict[str, tuple]:
        """The reservations already recorded under these keys (chunked: SQLite bounds a statement's parameters)."""
        seen: dict[str, tuple] = {}
        for lo in range(0, len(keys), chunk):
            part = keys[lo:lo + chunk]
            seen.update((row[0], row[1:]) for row in db.execute(
                "SELECT key, item, quantity, outcome, remaining, reason, payload FROM reservations"
                f" WHERE key IN ({','.join('?' * len(part))})", part))
        return seen

    # -- reading and resetting -------------------------------------------
    def snapshot(self) -> dict[str, int]:
        return dict(self._conn().execute("SELECT item, qty FROM stock ORDER BY rowid").fetchall())

    def counts(self) -> dict[str, int]:
        """How many reservation records there are per outcome, since the last reset."""
        return dict(self._conn().execute(
            f"SELECT outcome, COUNT(*) FROM reservations WHERE {_SINCE_RESET} GROUP BY outcome").fetchall())

    def reserved_units(self) -> dict[str, int]:
        rows = self._conn().execute(
            f"SELECT item, SUM(quantity) FROM reservations WHERE outcome = ? AND {_SINCE_RESET} GROUP BY item",
            (ReservationOutcome.RESERVED,)
        ).fetchall()
        return dict(rows)

    def time_span(self) -> tuple[float | None, float | None]:
        """When the first and the last reservation were recorded (drain rates, seen from the consumer)."""
        return tuple(self._conn().execute(
            f"SELECT MIN(created_at), MAX(created_at) FROM reservations WHERE {_SINCE_RESET}").fetchone())

    def reset(self, stock: Mapping[str, int] | None = None) -> dict[str, int]:
        """Set the stock (default: this store's initial stock) and start counting reservations afresh.

        The reservation records stay: they are the consumers' deduplication (one per event id), and a message
        redelivered after a reset must still find its first outcome, not reserve a second time. Reports
        (`counts`, `reserved_units`, `time_span`) count only what came after the reset."""
        stock = self.initial if stock is None else stock
        with self.db.transaction() as db:
            db.execute("INSERT OR REPLACE INTO marks(name, value)"
                       " SELECT 'reset_after', COALESCE(MAX(rowid), 0) FROM reservations")
            db.execute("DELETE FROM stock")
            db.executemany("INSERT INTO stock(item, qty) VALUES (?, ?)", list(stock.items()))
        return self.snapshot()
