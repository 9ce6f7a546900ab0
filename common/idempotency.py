"""Durable `Idempotency-Key` records: a retried request with the same key gets the same answer and one order.

Used by `POST /order` in Part A and Part C. A key is claimed in one SQLite
transaction (`BEGIN IMMEDIATE`), so two concurrent requests with the same key
cannot both proceed. The key is bound to an order id at first sight, and a retry
runs again with that same order id: Part A's inventory dedups reservations by
order id, Part C's consumers dedup by the event id derived from it, so even a
retry after a timeout (where the first attempt may still have landed) makes at
most one order. Final answers are replayed; transient ones let the next retry run.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

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


@dataclass
class Reply:
    """An HTTP answer as data: status, JSON body, extra headers."""

    status: int
    body: dict
    headers: dict = field(default_factory=dict)


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

    def run(self, key: str, payload: dict, attempt: Callable[[str, bool], Reply], final: Callable[[Reply], bool],
            wait_busy_s: float, sleep: Callable[[float], None] = time.sleep) -> Reply:
        """Run `attempt(order_id, retry)` at most once to a final answer for this key; replay that answer after.

        A request with the key of one still running waits up to `wait_busy_s`, then gets 409; a key reused with
        another body gets 400."""
        fp = fingerprint(payload)
        deadline = time.monotonic() + wait_busy_s
        while True:
            claim = self.claim(key, fp)
            if isinstance(claim, Replay):
                return Reply(claim.status, claim.body, {"Idempotent-Replayed": "true"})
            if isinstance(claim, Mismatch):
                return Reply(400, {"error": "idempotency_key_reused",
                                   "detail": "this Idempotency-Key was used with a different request body"})
            if isinstance(claim, Proceed):
                break
            if time.monotonic() > deadline:
                return Reply(409, {"error": "request_in_progress",
                                   "detail": "a request with this Idempotency-Key is still running; retry later"})
            sleep(0.05)
        reply = attempt(claim.order_id, claim.retry)
        self.finish(key, reply.status, reply.body, final=final(reply))
        return reply


def valid_key(key: str | None) -> bool:
    """What an `Idempotency-Key` header may be: absent, or 1-255 printable characters."""
    return key is None or (1 <= len(key) <= 255 and key.isprintable())
