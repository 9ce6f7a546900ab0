import multiprocessing as mp
import sqlite3
import threading

import pytest

from common.menu import INITIAL_STOCK
from common.stock import ReserveRequest, StockStore, decide
from common.vocabulary import ReservationOutcome

pytestmark = pytest.mark.unit
RESERVED, OUT_OF_STOCK = ReservationOutcome.RESERVED, ReservationOutcome.OUT_OF_STOCK
UNKNOWN_ITEM, REJECTED = ReservationOutcome.UNKNOWN_ITEM, ReservationOutcome.REJECTED


@pytest.mark.parametrize("available, qty, outcome, remaining", [
    (10, 3, RESERVED, 7), (3, 3, RESERVED, 0), (2, 3, OUT_OF_STOCK, 2), (0, 1, OUT_OF_STOCK, 0),
    (None, 1, UNKNOWN_ITEM, None),
])
def test_decide(available, qty, outcome, remaining):
    d = decide(available, qty)
    assert (d.outcome, d.remaining) == (outcome, remaining)


def test_decide_rejects_non_positive_quantity():
    with pytest.raises(ValueError):
        decide(5, 0)


@pytest.fixture
def store(tmp_path):
    return StockStore(tmp_path / "stock.db")


def test_initial_stock_is_the_menu(store):
    assert store.snapshot() == dict(INITIAL_STOCK)


def test_reserve_and_refuse(store):
    assert store.reserve("pizza", 60, "a").outcome == RESERVED
    r = store.reserve("pizza", 60, "b")
    assert (r.outcome, r.remaining, r.reason) == (OUT_OF_STOCK, 40, "out_of_stock")
    assert store.reserve("sushi", 1, "c").outcome == UNKNOWN_ITEM
    assert store.snapshot()["pizza"] == 40
    assert store.counts() == {RESERVED: 1, OUT_OF_STOCK: 1, UNKNOWN_ITEM: 1}


def test_same_key_reserves_once_and_returns_first_outcome(store):
    first = store.reserve("soda", 5, "evt-1", payload={"event": "InventoryReserved"})
    again = store.reserve("soda", 5, "evt-1")
    assert not first.duplicate and again.duplicate
    assert (again.outcome, again.remaining, again.payload) == (RESERVED, 195, {"event": "InventoryReserved"})
    assert store.snapshot()["soda"] == 195


def test_batch_with_rejections_and_duplicates_in_one_transaction(store):
    res = store.reserve_many([
        ReserveRequest("k1", "coffee", 10), ReserveRequest("k2", "coffee", 5, reject_reason="forced_failure"),
        ReserveRequest("k1", "coffee", 10), ReserveRequest("k3", "coffee", 500),
    ])
    assert [r.outcome for r in res] == [RESERVED, REJECTED, RESERVED, OUT_OF_STOCK]
    assert [r.duplicate for r in res] == [False, False, True, False]
    assert res[1].reason == "forced_failure" and store.snapshot()["coffee"] == 190


def test_survives_reopen(tmp_path):
    StockStore(tmp_path / "s.db").reserve("salad", 7, "k")
    again = StockStore(tmp_path / "s.db")
    assert again.snapshot()["salad"] == 93 and again.reserve("salad", 7, "k").duplicate


def test_stock_can_never_go_negative_even_by_hand(store):
    with pytest.raises(sqlite3.IntegrityError):
        store._conn().execute("UPDATE stock SET qty = -1 WHERE item = 'pizza'")


def test_reset(store):
    store.reserve("pizza", 1, "x")
    assert store.reset({"pizza": 3}) == {"pizza": 3}
    assert store.counts() == {} and store.reserved_units() == {} and store.time_span() == (None, None)
    # The key is kept: it is the consumers' deduplication, and a redelivery after a reset changes nothing.
    again = store.reserve("pizza", 1, "x")
    assert again.duplicate and again.outcome == RESERVED and store.snapshot() == {"pizza": 3}
    assert store.counts() == {}  # nor is it counted as this round's
    assert store.reserve("pizza", 1, "y").remaining == 2 and store.counts() == {RESERVED: 1}
    assert store.reserved_units() == {"pizza": 1}


def test_reset_without_stock_restores_the_stores_own_initial_stock(tmp_path):
    from common.menu import uniform_stock

    big = StockStore(tmp_path / "c.db", uniform_stock(1_000_000))  # Part C's KAFKA_INITIAL_STOCK
    big.reserve("fries", 3, "k")
    assert big.snapshot()["fries"] == 999_997
    assert big.reset() == dict(uniform_stock(1_000_000))
    small = StockStore(tmp_path / "a.db")
    small.reserve("fries", 3, "k")
    assert small.reset() == dict(INITIAL_STOCK) and small.snapshot()["fries"] == 100


def test_threads_never_oversell(store):
    results = []
    lock = threading.Lock()

    def worker(t):
        for i in range(40):
            r = store.reserve("pizza", 1, f"t{t}-{i}")
            with lock:
                results.append(r.outcome)
    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(RESERVED) == 100 and results.count(OUT_OF_STOCK) == 220
    assert store.snapshot()["pizza"] == 0


def _proc(path, n, idx, q):
    s = StockStore(path)
    q.put([s.reserve("burger", 3, f"p{idx}-{i}").outcome for i in range(n)])


def test_processes_never_oversell(tmp_path):
    path = tmp_path / "shared.db"
    StockStore(path)
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_proc, args=(str(path), 15, i, q)) for i in range(4)]
    for p in procs:
        p.start()
    outcomes = [o for _ in procs for o in q.get(timeout=60)]
    for p in procs:
        p.join(30)
    # 100 burgers in units of 3: 33 reservations fit, 1 left over; 60 attempts in all
    assert outcomes.count(RESERVED) == 33 and outcomes.count(OUT_OF_STOCK) == 27
    assert StockStore(path).snapshot()["burger"] == 1


def _mixed_requests(n: int) -> list[ReserveRequest]:
    """Keys that repeat inside the batch, stock that runs out, unknown items, forced refusals."""
    items = ["pizza", "sushi", "coffee", "soda"]
    return [ReserveRequest(f"k{i % (n // 2)}", items[i % 4], 1 + i % 7,
                           reject_reason="forced" if i % 11 == 0 else None, payload={"n": i})
            for i in range(n)]


def test_a_batch_has_the_outcomes_of_one_at_a_time(tmp_path):
    stock = {"pizza": 40, "coffee": 9, "soda": 1000}
    batched, single = StockStore(tmp_path / "b.db", stock), StockStore(tmp_path / "s.db", stock)
    first = [ReserveRequest("k3", "soda", 2, payload={"before": True})]
    batched.reserve_many(first)
    single.reserve_many(first)
    reqs = _mixed_requests(120)
    got = batched.reserve_many(reqs)
    want = [single.reserve_many([r])[0] for r in reqs]
    assert got == want and [r.payload for r in got] == [r.payload for r in want]
    assert batched.snapshot() == single.snapshot() and batched.counts() == single.counts()
    assert {OUT_OF_STOCK, UNKNOWN_ITEM, REJECTED, RESERVED} <= {r.outcome for r in got}


class _CountingConnection:
    """The store's connection, counting the calls to SQLite it makes (an executemany is one call)."""

    def __init__(self, db):
        self.db, self.calls = db, 0

    def execute(self, *args):
        self.calls += 1
        return self.db.execute(*args)

    def executemany(self, *args):
        self.calls += 1
        return self.db.executemany(*args)

    def __getattr__(self, name):
        return getattr(self.db, name)


def test_a_batch_costs_a_few_statements_not_a_few_per_order(store, monkeypatch):
    counting = _CountingConnection(store.db.conn())
    monkeypatch.setattr(store.db, "conn", lambda: counting)
    store.reserve_many(_mixed_requests(200))
    assert counting.calls <= 6  # BEGIN, read the keys, read the stock, update, insert, COMMIT
