"""Issue 10, defect 6: a failed COMMIT (or a write SQLite rolled back by itself) leaves this thread's connection
usable, and the error raised is the real one. Real failures, no mocks: a deferred foreign key checked at
COMMIT, and a full database (`max_page_count`)."""
import sqlite3

import pytest

from common.sqlite import Database

pytestmark = pytest.mark.unit

SCHEMA = ("CREATE TABLE parent (id INTEGER PRIMARY KEY)",
          "CREATE TABLE child (id INTEGER PRIMARY KEY,"
          " parent INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)",
          "CREATE TABLE blobs (b BLOB)")


@pytest.fixture
def db(tmp_path):
    d = Database(tmp_path / "t.db", schema=SCHEMA)
    d.conn().execute("PRAGMA foreign_keys=ON")
    yield d
    d.close()


def count(db, table):
    return db.conn().execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def test_a_commit_that_fails_is_rolled_back_and_the_connection_works_afterwards(db):
    conn = db.conn()
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        with db.transaction() as t:
            t.execute("INSERT INTO child VALUES (1, 42)")  # no parent 42: accepted now, refused at COMMIT
    assert not conn.in_transaction and count(db, "child") == 0
    with db.transaction() as t:  # same thread, same connection: a new transaction commits
        t.execute("INSERT INTO parent VALUES (42)")
        t.execute("INSERT INTO child VALUES (1, 42)")
    assert db.conn() is conn and count(db, "child") == 1


def test_a_full_database_raises_the_real_error_and_the_connection_recovers(db):
    conn = db.conn()
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count={pages + 2}")
    with pytest.raises(sqlite3.OperationalError, match="full"):  # not "cannot rollback - no transaction"
        with db.transaction() as t:
            t.execute("INSERT INTO blobs VALUES (zeroblob(1000000))")
    assert not conn.in_transaction
    with db.transaction() as t:
        t.execute("INSERT INTO parent VALUES (1)")
    assert count(db, "parent") == 1 and count(db, "blobs") == 0


def test_commits_do_not_checkpoint_every_thousand_pages(tmp_path):
    """SQLite's default checkpoints inside the COMMIT that crosses 1000 WAL pages: with a consumer's batches that
    was a third of its time. 3000 pages committed in batches stay in the WAL (the next checkpoint copies them)."""
    db = Database(tmp_path / "w.db", schema=("CREATE TABLE blobs (b BLOB)",))
    for _ in range(30):
        with db.transaction() as conn:
            conn.executemany("INSERT INTO blobs VALUES (?)", [(b"x" * 4000,)] * 100)
    _busy, wal_frames, _copied = db.conn().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert wal_frames > 2500
