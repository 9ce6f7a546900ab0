"""Durable `Idempotency-Key` records: a retried request with the same key gets the same answer and reserves once.

A key is claimed in one SQLite transaction (`BEGIN IMMEDIATE`), so two concurrent
requests with the same key cannot both proceed. The key is bound to an order id
at first sight; inventory dedups reservations by order id, so even a retry after
a timeout (where inventory may have reserved late) reserves at most once.
Final answers (201, 409) are replayed; transient ones (422, 503, 504) let the
next retry run again with the same order id.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

from common.ids import generate_order_id
from common.sqlite import Database

_SCHEMA = ("""CREATE TABLE IF NOT EXISTS idempotency (
    key         TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    order_id    TEXT NOT NULL,
    state       TEXT NOT NULL,          -- in_progress | retryable | done
    status      INTEGER,
    body        TEXT,
    updated_at  REAL NOT NULL
)""",)


@dataclass(frozen=True)
class Proceed:
    order_id: str
    retry: bool  # True: an earlier attempt with this key did not finish with a final answer


@dataclass(frozen=True)
class Replay:
    status: int
    body: dict


@dataclass(frozen=True)
class Busy:
    """Another request with this key is running now."""


@dataclass(frozen=True)
class Mismatch:
    """The key was first used with a different request body."""


def fingerprint(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class IdempotencyStore:
    def __init__(self, path: str | Path, stale_after_s: float):
        self.stale_after_s = stale_after_s  # an in-progress claim older than this was abandoned (crash)
        self.db = Database(path, schema=_SCHEMA)

    def claim(self, key: str, fp: str) -> Proceed | Replay | Busy | Mismatch:
        with self.db.transaction() as db:
            row = db.execute("SELECT fingerprint, order_id, state, status, body, updated_at FROM idempotency"
                             " WHERE key = ?", (key,)).fetchone()
            now = time.time()
            if row is None:
                order_id = generate_order_id()
                db.execute("INSERT INTO idempotency VALUES (?, ?, ?, 'in_progress', NULL, NULL, ?)",
                           (key, fp, order_id, now))
                return Proceed(order_id, retry=False)
            stored_fp, order_id, state, status, body, updated = row
            if stored_fp != fp:
                return Mismatch()
            if state == "done":
                return Replay(status, json.loads(body))
            if state == "in_progress" and now - updated < self.stale_after_s:
                return Busy()
            db.execute("UPDATE idempotency SET state = 'in_progress', updated_at = ? WHERE key = ?", (now, key))
            return Proceed(order_id, retry=True)

    def finish(self, key: str, status: int, body: dict, final: bool) -> None:
        self.db.conn().execute("UPDATE idempotency SET state = ?, status = ?, body = ?, updated_at = ? WHERE key = ?",
                           ("done" if final else "retryable", status, json.dumps(body), time.time(), key))
