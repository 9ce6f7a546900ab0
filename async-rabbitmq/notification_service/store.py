"""The notifications sent, in SQLite, keyed by the inventory event's id: each one is recorded (and logged) once."""
from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path


class NotificationStore:
    def __init__(self, path: str | Path):
        self.path = str(path)
        self._local = threading.local()
        self._conn().execute(
            "CREATE TABLE IF NOT EXISTS notifications (event_id TEXT PRIMARY KEY, order_id TEXT NOT NULL,"
            " student_id TEXT, kind TEXT NOT NULL, message TEXT NOT NULL, created_at REAL NOT NULL)")

    def _conn(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    def record_many(self, notes: list[dict]) -> list[bool]:
        """Insert in one transaction; True for each new one, False for an event already notified."""
        db = self._conn()
        fresh = []
        db.execute("BEGIN IMMEDIATE")
        try:
            for n in notes:
                cur = db.execute(
                    "INSERT OR IGNORE INTO notifications(event_id, order_id, student_id, kind, message, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (n["event_id"], n["order_id"], n.get("student_id"), n["kind"], n["message"], time.time()))
                fresh.append(cur.rowcount == 1)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return fresh

    def count(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM notifications").fetchone()[0]

    def for_order(self, order_id: str) -> list[dict]:
        rows = self._conn().execute(
            "SELECT event_id, kind, message FROM notifications WHERE order_id = ?", (order_id,)).fetchall()
        return [{"event_id": r[0], "kind": r[1], "message": r[2]} for r in rows]
