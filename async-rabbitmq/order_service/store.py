"""order-service's SQLite store: orders, their status, and the transactional outbox of OrderPlaced events.

`place()` writes the order and its outbox record in one transaction, so an
accepted order (202) is never lost whatever the broker is doing; the relay
publishes the outbox and marks what the broker confirmed.
"""
from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from common.sqlite import Database
from messaging.messages import order_placed

PENDING, CONFIRMED, FAILED = "pending", "confirmed", "failed"

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS orders (
        order_id TEXT PRIMARY KEY, student_id TEXT NOT NULL, item TEXT NOT NULL, quantity INTEGER NOT NULL,
        status TEXT NOT NULL, reason TEXT, event_id TEXT NOT NULL, result_event_id TEXT,
        created_at REAL NOT NULL, updated_at REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE, routing_key TEXT NOT NULL,
        body TEXT NOT NULL, created_at REAL NOT NULL, published_at REAL)""",
    "CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox(id) WHERE published_at IS NULL",
)


@dataclass(frozen=True)
class OutboxRecord:
    id: int
    event_id: str
    routing_key: str
    body: bytes


class OrderStore:
    def __init__(self, path: str | Path):
        self.db = Database(path, schema=_SCHEMA)
        self.path = self.db.path

    def _conn(self) -> sqlite3.Connection:
        return self.db.conn()

    def _tx(self, fn):
        with self.db.transaction() as db:
            return fn(db)

    # -- orders -------------------------------------------------------------
    def place(self, order_id: str, student_id: str, item: str, quantity: int, routing_key: str) -> dict:
        """Store the order and its OrderPlaced outbox record atomically; returns the event."""
        event = order_placed(order_id, student_id, item, quantity)
        now = time.time()

        def write(db):
            db.execute("INSERT INTO orders(order_id, student_id, item, quantity, status, event_id, created_at,"
                       " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (order_id, student_id, item, quantity, PENDING, event["event_id"], now, now))
            db.execute("INSERT INTO outbox(event_id, routing_key, body, created_at) VALUES (?, ?, ?, ?)",
                       (event["event_id"], routing_key, json.dumps(event), now))
        self._tx(write)
        return event

    def get(self, order_id: str) -> dict | None:
        row = self._conn().execute(
            "SELECT order_id, student_id, item, quantity, status, reason, created_at, updated_at FROM orders"
            " WHERE order_id = ?", (order_id,)).fetchone()
        if not row:
            return None
        doc = dict(zip(("order_id", "student_id", "item", "quantity", "status", "reason", "created_at",
                        "updated_at"), row, strict=True))
        if doc["reason"] is None:
            del doc["reason"]
        return doc

    def statuses(self, order_ids: list[str]) -> dict[str, dict]:
        out: dict[str, dict] = {}
        db = self._conn()
        for i in range(0, len(order_ids), 500):
            chunk = order_ids[i:i + 500]
            rows = db.execute(f"SELECT order_id, status, reason, item, quantity, updated_at FROM orders WHERE"
                              f" order_id IN ({','.join('?' * len(chunk))})", chunk).fetchall()
            for oid, status, reason, item, qty, updated in rows:
                # updated_at: when the final state was applied (failover scenarios: throughput over time)
                out[oid] = {"status": status, "reason": reason, "item": item, "quantity": qty, "updated_at": updated}
        return out

    def apply_results(self, results: list[tuple[str, str, str | None, str]]) -> int:
        """(order_id, status, reason, result_event_id) from inventory events; the first final state wins."""
        now = time.time()

        def write(db):
            changed = 0
            for order_id, status, reason, result_event_id in results:
                changed += db.execute(
                    "UPDATE orders SET status = ?, reason = ?, result_event_id = ?, updated_at = ?"
                    " WHERE order_id = ? AND status = ?",
                    (status, reason, result_event_id, now, order_id, PENDING)).rowcount
            return changed
        return self._tx(write)

    def counts(self) -> dict[str, int]:
        return dict(self._conn().execute("SELECT status, COUNT(*) FROM orders GROUP BY status").fetchall())

    # -- outbox -------------------------------------------------------------
    def unpublished(self, after_id: int, limit: int) -> list[OutboxRecord]:
        rows = self._conn().execute(
            "SELECT id, event_id, routing_key, body FROM outbox WHERE published_at IS NULL AND id > ?"
            " ORDER BY id LIMIT ?", (after_id, limit)).fetchall()
        return [OutboxRecord(r[0], r[1], r[2], r[3].encode()) for r in rows]

    def mark_published(self, ids: list[int]) -> None:
        if not ids:
            return
        now = time.time()

        def write(db):
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                db.execute(f"UPDATE outbox SET published_at = ? WHERE id IN ({','.join('?' * len(chunk))})",
                           [now, *chunk])
        self._tx(write)

    def outbox_backlog(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM outbox WHERE published_at IS NULL").fetchone()[0]

    def enqueue(self, records: list[tuple[str, str, bytes]]) -> None:
        """Append (event_id, routing_key, body) records to the outbox in one transaction, for the relay to publish."""
        now = time.time()
        self._tx(lambda db: db.executemany(
            "INSERT INTO outbox(event_id, routing_key, body, created_at) VALUES (?, ?, ?, ?)",
            [(event_id, key, body.decode(), now) for event_id, key, body in records]))
