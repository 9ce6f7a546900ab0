"""The notifications sent, in SQLite, keyed by the inventory event's id: each one is recorded (and logged) once."""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from common.sqlite import Database


class NotificationStore:
    def __init__(self, path: str | Path):
        self.db = Database(path, schema=(
            "CREATE TABLE IF NOT EXISTS notifications (event_id TEXT PRIMARY KEY, order_id TEXT NOT NULL,"
            " student_id TEXT, kind TEXT NOT NULL, message TEXT NOT NULL, created_at REAL NOT NULL)",))
        self.path = self.db.path

    def _conn(self) -> sqlite3.Connection:
        return self.db.conn()

    def record_many(self, notes: list[dict]) -> list[bool]:
        """Insert in one transaction; True for each new one, False for an event already notified (before, or
        earlier in this batch). One read of the ids and one executemany per batch."""
        fresh, rows = [], []
        with self.db.transaction() as db:  # the write lock: the ids read here stay as they are until the commit
            ids = list(dict.fromkeys(n["event_id"] for n in notes))
            seen: set[str] = set()
            for lo in range(0, len(ids), 500):  # SQLite bounds a statement's parameters
                part = ids[lo:lo + 500]
                seen.update(r[0] for r in db.execute(
                    f"SELECT event_id FROM notifications WHERE event_id IN ({','.join('?' * len(part))})", part))
            now = time.time()
            for n in notes:
                new = n["event_id"] not in seen
                fresh.append(new)
                if new:
                    seen.add(n["event_id"])
                    rows.append((n["event_id"], n["order_id"], n.get("student_id"), n["kind"], n["message"], now))
            db.executemany("INSERT INTO notifications(event_id, order_id, student_id, kind, message, created_at)"
                           " VALUES (?, ?, ?, ?, ?, ?)", rows)
        return fresh

    def count(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM notifications").fetchone()[0]

    def for_order(self, order_id: str) -> list[dict]:
        rows = self._conn().execute(
            "SELECT event_id, kind, message FROM notifications WHERE order_id = ?", (order_id,)).fetchall()
        return [{"event_id": r[0], "kind": r[1], "message": r[2]} for r in rows]
