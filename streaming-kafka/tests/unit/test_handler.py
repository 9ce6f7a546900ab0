"""The inventory handler without a broker: durable idempotency by event_id, forced failures, dead letters."""
import itertools
import json

import pytest

from common.faults import Faults
from common.stock import StockStore
from streaming_kafka.events import OrderPlaced, encode
from streaming_kafka.inventory_consumer.handler import InventoryHandler

pytestmark = pytest.mark.unit


def ev(n: int, item="pizza", qty=1, fail=False) -> bytes:
    return OrderPlaced.new(order_id=f"ORD-1795590180000-{n:08x}", event_id=f"{n:032x}", student_id="s",
                           item=item, quantity=qty, ts_ms=1_795_590_180_000, force_fail=fail).to_bytes()


@pytest.fixture
def store(tmp_path):
    return StockStore(tmp_path / "inv.db", initial={"pizza": 5, "soda": 100})


def handler(store, **kw):
    ids = itertools.count()
    clock = itertools.count(1_795_590_200_000, 7)
    return InventoryHandler(store, clock=lambda: next(clock), new_id=lambda: f"{next(ids):032x}", **kw)


def test_reserve_out_of_stock_forced_and_dead(store):
    h = handler(store)
    acts = h.handle([ev(1, qty=3), ev(2, qty=3), ev(3, fail=True), b"garbage", ev(4, item="soda", qty=10)])
    kinds = [a.kind for a in acts]
    assert kinds == ["result", "result", "result", "dead", "result"]
    out = [json.loads(a.value) for a in acts if a.kind == "result"]
    assert [o["event_type"] for o in out] == ["InventoryReserved", "InventoryFailed", "InventoryFailed",
                                              "InventoryReserved"]
    assert out[1]["reason"] == "out_of_stock" and out[2]["reason"] == "forced_failure"
    assert acts[3].reason == "invalid_json"
    assert store.snapshot() == {"pizza": 2, "soda": 90}
    assert acts[0].key == b"ORD-1795590180000-00000001"


def test_redelivery_gives_identical_bytes_and_no_stock_change(store, tmp_path):
    batch = [ev(n, qty=1) for n in range(1, 8)]
    first = handler(store).handle(batch)
    stock = store.snapshot()
    # A new process (new clock, new ids) after a crash: the stored result events come back unchanged.
    again = handler(StockStore(tmp_path / "inv.db", initial={"pizza": 5, "soda": 100})).handle(batch)
    assert [a.value for a in again] == [a.value for a in first]
    assert all(a.duplicate for a in again)
    assert store.snapshot() == stock == {"pizza": 0, "soda": 100}


def test_duplicate_inside_one_batch(store):
    acts = handler(store).handle([ev(1), ev(1)])
    assert acts[0].value == acts[1].value and acts[1].duplicate
    assert store.snapshot()["pizza"] == 4


def test_force_failure_switch(store):
    acts = handler(store, faults=Faults(force_failure=True)).handle([ev(1)])
    assert json.loads(acts[0].value)["reason"] == "forced_failure"
    assert store.snapshot()["pizza"] == 5


def test_same_event_id_with_another_body_gives_the_first_result_again(store):
    """The duplicate changes no stock, and its result is byte-identical to the first (not built from the copy)."""
    h = handler(store)
    first = json.loads(ev(1, item="soda", qty=3))
    copy = {**first, "item": "pizza", "quantity": 1, "student_id": "other"}
    (a,), (b,) = h.handle([encode(first)]), h.handle([encode(copy)])
    assert b.duplicate and b.value == a.value and b.key == a.key
    assert store.snapshot() == {"pizza": 5, "soda": 97}
