"""order-service's SQLite store: orders, their status, and the transactional outbox of OrderPlaced events.

`place()` writes the order and its outbox record in one transaction, so an
accepted order (202) is never lost whatever the broker is doing; the relay
publishes the outbox and marks what the broker confirmed. A record the broker
returned as unroutable stays in the outbox with its attempts, the broker's reason
and the time of its next try (`retry_at`); `GET /order/<id>` shows that state.
"""
from __future__ import annotations

import random
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from async_rabbitmq.messaging.messages import OrderPlaced
from common.sqlite import Database
from common.vocabulary import OrderStatus

RETRY_BASE_S = 1.0  # first retry of an unroutable record after about this long, doubling per attempt

_TABLES = (
    """CREATE TABLE IF NOT EXISTS orders (
        order_id TEXT PRIMARY KEY, student_id TEXT NOT NULL, item TEXT NOT NULL, quantity INTEGER NOT NULL,
        status TEXT NOT NULL, reason TEXT, event_id TEXT NOT NULL, result_event_id TEXT,
        created_at REAL NOT NULL, updated_at REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE, routing_key TEXT NOT NULL,
        body TEXT NOT NULL, created_at REAL NOT NULL, published_at REAL,
        attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, retry_at REAL)""",
)
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox(id) WHERE published_at IS NULL",
    "CREATE INDEX IF NOT EXISTS outbox_deferred ON outbox(retry_at) WHERE published_at IS NULL AND retry_at IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS orders_newest ON orders(created_at, order_id)",
)
MAX_LIST = 1000


@dataclass(frozen=True)
class OutboxRecord:
    id: int
    event_id: str
    routing_key: str
    body: bytes


class OrderStore:
    def __init__(self, path: str | Path, retry_max_s: float = 30.0):
        self.db = Database(path, schema=_TABLES)
        self.path = self.db.path
        self.retry_max_s = retry_max_s
        with self.db.transaction() as db:
            for stmt in _INDEXES:
                db.execute(stmt)

    def _conn(self) -> sqlite3.Connection:
        return self.db.conn()

    def _tx(self, fn):
        with self.db.transaction() as db:
            return fn(db)

    # -- orders -------------------------------------------------------------
    def place(self, event: OrderPlaced, routing_key: str) -> None:
        """Store the order an OrderPlaced event describes and the event as its outbox record, atomically."""
        now = time.time()

        def write(db):
            db.execute("INSERT INTO orders(order_id, student_id, item, quantity, status, event_id, created_at,"
                       " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (event.order_id, event.student_id, event.item, event.quantity, OrderStatus.PENDING,
                        event.event_id, now, now))
            db.execute("INSERT INTO outbox(event_id, routing_key, body, created_at) VALUES (?, ?, ?, ?)",
                       (event.event_id, routing_key, event.to_bytes().decode(), now))
        self._tx(write)

    _FIELDS = ("order_id", "student_id", "item", "quantity", "status", "reason", "created_at", "updated_at")
    _SELECT = ("SELECT o.order_id, o.student_id, o.item, o.quantity, o.status, o.reason, o.created_at, o.updated_at,"
               " x.published_at, x.attempts, x.last_error, x.retry_at"
               " FROM orders o LEFT JOIN outbox x ON x.event_id = o.event_id")

    @classmethod
    def _doc(cls, row) -> dict:
        doc = dict(zip(cls._FIELDS, row[:8], strict=True))
        if doc["reason"] is None:
            del doc["reason"]
        published_at, attempts, last_error, retry_at = row[8:]
        # Where the OrderPlaced event is: queued (not yet confirmed), unroutable (returned, retried) or published.
        if published_at is not None:
            doc["publish"] = {"state": "published", "attempts": attempts, "published_at": published_at}
        elif attempts:
            doc["publish"] = {"state": "unroutable", "attempts": attempts, "last_error": last_error,
                              "retry_at": retry_at}
        else:
            doc["publish"] = {"state": "queued", "attempts": attempts or 0}
        return doc

    def get(self, order_id: str) -> dict | None:
        row = self._conn().execute(f"{self._SELECT} WHERE o.order_id = ?", (order_id,)).fetchone()
        return self._doc(row) if row else None

    def newest(self, limit: int, before: str | None = None, status: str | None = None) -> list[dict] | None:
        """Orders newest first, at most `limit`; `before`: continue after that order id (None: unknown id)."""
        where, args = [], []
        if before is not None:
            ref = self._conn().execute("SELECT created_at FROM orders WHERE order_id = ?", (before,)).fetchone()
            if ref is None:
                return None
            where.append("(o.created_at, o.order_id) < (?, ?)")
            args += [ref[0], before]
        if status is not None:
            where.append("o.status = ?")
            args.append(status)
        sql = f"{self._SELECT}{' WHERE ' + ' AND '.join(where) if where else ''}" \
              " ORDER BY o.created_at DESC, o.order_id DESC LIMIT ?"
        return [self._doc(r) for r in self._conn().execute(sql, [*args, min(limit, MAX_LIST)]).fetchall()]

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

    def apply_results(self, results: list[tuple[str, OrderStatus, str | None, str]]) -> int:
        """(order_id, status, reason, result_event_id) from inventory events; the first final state wins."""
        now = time.time()

        def write(db):  # one executemany per batch (its rowcount is the sum over the rows)
            return db.executemany(
                "UPDATE orders SET status = ?, reason = ?, result_event_id = ?, updated_at = ?"
                " WHERE order_id = ? AND status = ?",
                [(status, reason, result_event_id, now, order_id, OrderStatus.PENDING)
                 for order_id, status, reason, result_event_id in results]).rowcount
        return self._tx(write)

    def counts(self) -> dict[str, int]:
        return dict(self._conn().execute("SELECT status, COUNT(*) FROM orders GROUP BY status").fetchall())

    # -- outbox -------------------------------------------------------------
    def unpublished(self, after_id: int, limit: int) -> list[OutboxRecord]:
        """Records never returned by the broker, in order (the returned ones wait for their retry_at)."""
        rows = self._conn().execute(
            "SELECT id, event_id, routing_key, body FROM outbox WHERE published_at IS NULL AND id > ?"
            " AND retry_at IS NULL ORDER BY id LIMIT ?", (after_id, limit)).fetchall()
        return [OutboxRecord(r[0], r[1], r[2], r[3].encode()) for r in rows]

    def due_retries(self, now: float, limit: int) -> list[OutboxRecord]:
        """Records the broker returned as unroutable whose next try is due."""
        rows = self._conn().execute(
            "SELECT id, event_id, routing_key, body FROM outbox WHERE published_at IS NULL AND retry_at IS NOT NULL"
            " AND retry_at <= ? ORDER BY retry_at LIMIT ?", (now, limit)).fetchall()
        return [OutboxRecord(r[0], r[1], r[2], r[3].encode()) for r in rows]

    def mark_unroutable(self, ids: list[int], error: str, now: float | None = None) -> None:
        """The broker returned these (no queue bound): keep them, count the attempt, retry with jittered backoff."""
        now = time.time() if now is None else now

        def write(db):
            for oid in ids:
                row = db.execute("SELECT attempts FROM outbox WHERE id = ?", (oid,)).fetchone()
                attempts = (row[0] if row else 0) + 1
                delay = min(self.retry_max_s, RETRY_BASE_S * 2 ** min(attempts - 1, 16)) * random.uniform(0.5, 1.0)
                db.execute("UPDATE outbox SET attempts = ?, last_error = ?, retry_at = ? WHERE id = ?"
                           " AND published_at IS NULL", (attempts, error, now + delay, oid))
        self._tx(write)

    def release_deferred(self, now: float | None = None) -> int:
        """Make every returned record due now (the topology was just declared again, or routing works again)."""
        now = time.time() if now is None else now
        return self._tx(lambda db: db.execute(
            "UPDATE outbox SET retry_at = ? WHERE published_at IS NULL AND retry_at > ?", (now, now)).rowcount)

    def unroutable_count(self) -> int:
        return self._conn().execute(
            "SELECT COUNT(*) FROM outbox WHERE published_at IS NULL AND retry_at IS NOT NULL").fetchone()[0]

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

    def oldest_unpublished_at(self) -> float | None:
        """When the oldest record still in the outbox was written (unix seconds), None when it is empty."""
        return self._conn().execute("SELECT MIN(created_at) FROM outbox WHERE published_at IS NULL").fetchone()[0]

    def enqueue(self, records: list[tuple[str, str, bytes]]) -> None:
        """Append (event_id, routing_key, body) records to the outbox in one transaction, for the relay to publish."""
        now = time.time()
        self._tx(lambda db: db.executemany(
            "INSERT INTO outbox(event_id, routing_key, body, created_at) VALUES (?, ?, ?, ?)",
            [(event_id, key, body.decode(), now) for event_id, key, body in records]))
