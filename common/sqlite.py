"""SQLite the way every service here uses it: one connection per thread, WAL, and write transactions that
take the database lock up front (`BEGIN IMMEDIATE`), so writers from any thread or process queue up
instead of failing half-way."""
from __future__ import annotations

import logging
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

log = logging.getLogger("sqlite")
WAL_AUTOCHECKPOINT_PAGES = 10_000


class Database:
    def __init__(self, path: str | Path, synchronous: str = "NORMAL", schema: tuple[str, ...] = ()):
        self.path = str(path)
        # NORMAL in WAL mode: a committed transaction survives a process crash (kill -9); FULL also power loss.
        self.synchronous = synchronous
        self._local = threading.local()
        if schema:
            with self.transaction() as db:
                for stmt in schema:
                    db.execute(stmt)

    def conn(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={self.synchronous}")
            db.execute("PRAGMA busy_timeout=30000")
            # A checkpoint (WAL -> database file, with an fsync) runs inside the COMMIT that crosses this many
            # pages. SQLite's 1000 made a consumer's batch of 250 random event-id keys pay one every few
            # commits, a third of its time; 10000 (about 40 MB of WAL) writes each hot page back once for many
            # commits. A commit is as durable as before: checkpoints move committed pages, they commit nothing.
            db.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
            self._local.db = db
        return db

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed when the block ends, rolled back if the block or the COMMIT raises.

        A failed COMMIT (a deferred constraint, a full disk, an I/O error) leaves the transaction open; without
        the rollback every later `BEGIN` on this thread's connection would fail. SQLite may already have
        rolled back by itself (SQLITE_FULL, SQLITE_IOERR), so ROLLBACK is issued only while one is open, and
        the original error is the one raised."""
        db = self.conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            self._rollback(db)
            raise

    def _rollback(self, db: sqlite3.Connection) -> None:
        if not db.in_transaction:
            return
        try:
            db.execute("ROLLBACK")
        except sqlite3.Error:
            log.exception("ROLLBACK failed; this thread's connection is discarded")
            self.close()

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
