"""The idempotent inventory handler, without a broker: durable dedup by event_id, poison, faults."""
import json

import pytest

from async_rabbitmq.inventory_service.handler import InventoryHandler
from async_rabbitmq.messaging import topology
from async_rabbitmq.messaging.consumer import Delivery
from async_rabbitmq.messaging.messages import REASON_HEADER, OrderPlaced
from common.faults import Faults
from common.stock import StockStore

pytestmark = pytest.mark.unit


def delivery(tag: int, event: OrderPlaced | dict | bytes) -> Delivery:
    raw = event.to_bytes() if isinstance(event, OrderPlaced) else event if isinstance(event, bytes) else \
        json.dumps(event).encode()
    return Delivery(tag, raw, topology.ORDER_PLACED_KEY)


@pytest.fixture
def store(tmp_path):
    return StockStore(tmp_path / "inv.db")


def event_of(result) -> dict:
    (out,) = result.outgoing
    return json.loads(out.body)


def test_reserves_and_publishes_the_result(store, tmp_settings):
    h = InventoryHandler(store, tmp_settings)
    (r,) = h([delivery(1, OrderPlaced.new(order_id="o1", student_id="s", item="pizza", quantity=3))])
    (out,) = r.outgoing
    assert (out.exchange, out.routing_key) == ("inventory_events", "inventory.reserved")
    assert event_of(r)["event_type"] == "InventoryReserved" and store.snapshot()["pizza"] == 97


def test_same_event_twice_in_one_batch_reserves_once(store, tmp_settings):
    e = OrderPlaced.new(order_id="o1", student_id="s", item="pizza", quantity=3)
    r1, r2 = InventoryHandler(store, tmp_settings)([delivery(1, e), delivery(2, e)])
    assert store.snapshot()["pizza"] == 97
    assert event_of(r1) == event_of(r2)  # the same result event (same event_id) is re-published


def test_redelivery_after_a_restart_reserves_once(store, tmp_settings, tmp_path):
    e = OrderPlaced.new(order_id="o1", student_id="s", item="burger", quantity=5)
    first = InventoryHandler(store, tmp_settings)([delivery(1, e)])[0]
    # a new process: new handler, new connection to the same database file
    again = InventoryHandler(StockStore(tmp_path / "inv.db"), tmp_settings)
    second = again([delivery(7, e)])[0]
    assert store.snapshot()["burger"] == 95
    assert event_of(first) == event_of(second) and again.stats["duplicates"] == 1


def test_out_of_stock_is_a_failed_event(store, tmp_settings):
    store.reset({"pizza": 1})
    (r,) = InventoryHandler(store, tmp_settings)([delivery(1, OrderPlaced.new(order_id="o1", student_id="s",
                                                                              item="pizza", quantity=2))])
    ev = event_of(r)
    assert ev["event_type"] == "InventoryFailed" and ev["reason"] == "out_of_stock"
    assert r.outgoing[0].routing_key == "inventory.failed"


def test_poison_goes_to_the_dlx_with_its_reason_and_good_ones_still_pass(store, tmp_settings):
    good = OrderPlaced.new(order_id="o1", student_id="s", item="soda", quantity=1)
    results = InventoryHandler(store, tmp_settings)([delivery(1, b"{nope"), delivery(2, good),
                                                     delivery(3, {**good.to_dict(), "event_id": "x2", "item": "sushi"})])
    assert [r.tag for r in results] == [1, 2, 3]
    bad = results[0].outgoing[0]
    assert bad.exchange == "orders_dlx" and bad.headers[REASON_HEADER] == "not_json" and bad.body == b"{nope"
    assert results[2].outgoing[0].headers[REASON_HEADER] == "unknown_item"
    assert event_of(results[1])["event_type"] == "InventoryReserved" and store.snapshot()["soda"] == 199


def test_force_failure_is_recorded_as_service_error(store, tmp_path):
    from common.settings import Settings

    s = Settings(data_dir=tmp_path, force_failure=True)
    (r,) = InventoryHandler(store, s)([delivery(1, OrderPlaced.new(order_id="o1", student_id="s", item="pizza", quantity=1))])
    assert event_of(r)["reason"] == "service_error" and store.snapshot()["pizza"] == 100


def test_delay_is_per_message(store, tmp_path):
    from common.settings import Settings

    slept = []
    s = Settings(data_dir=tmp_path, inventory_delay_ms=200)
    handler = InventoryHandler(store, s, Faults.from_settings(s, sleep=slept.append))
    handler([delivery(i, OrderPlaced.new(order_id=f"o{i}", student_id="s", item="pizza", quantity=1)) for i in (1, 2, 3)])
    assert slept == [pytest.approx(0.6)]


def test_one_deeply_nested_body_in_a_batch_of_250_dead_letters_only_itself(tmp_path, tmp_settings):
    """Issue 10, defect 1: 249 good orders and one `[[[[...]]]]` body were all dead-lettered together."""
    from async_rabbitmq.messaging.consumer import BatchConsumer

    settings = tmp_settings.model_copy(update={"consumer_retry_budget_s": 0.1})
    store = StockStore(tmp_path / "big.db", initial={"soda": 1000})
    consumer = BatchConsumer(settings, topology.INVENTORY_ORDERS, InventoryHandler(store, settings),
                             topology.ORDERS_DLX)
    batch = [delivery(i, OrderPlaced.new(order_id=f"o{i}", student_id="s", item="soda", quantity=1)) for i in range(1, 250)]
    batch.insert(100, delivery(250, b"[" * 30_000 + b"]" * 30_000))  # 60 KB, under the size limit
    results = consumer._handle(batch)
    dead = [r for r in results if r.outgoing[0].exchange == topology.ORDERS_DLX]
    assert [r.tag for r in dead] == [250] and dead[0].outgoing[0].headers[REASON_HEADER] == "too_deep"
    assert sum(event_of(r)["event_type"] == "InventoryReserved" for r in results if r not in dead) == 249
    assert store.snapshot()["soda"] == 1000 - 249


def test_a_batch_is_logged_once_with_its_counts_per_outcome(store, tmp_settings, caplog):
    store.reset({"pizza": 100, "burger": 0})
    again = OrderPlaced.new(order_id="o0", student_id="s", item="pizza", quantity=1)
    InventoryHandler(store, tmp_settings)([delivery(1, again)])
    batch = [delivery(2, again), delivery(3, b"not json")]
    batch += [delivery(4 + i, OrderPlaced.new(order_id=f"o{i}", student_id="s", item="pizza", quantity=1)) for i in range(1, 6)]
    batch += [delivery(10 + i, OrderPlaced.new(order_id=f"f{i}", student_id="s", item="burger", quantity=1)) for i in range(3)]
    caplog.set_level("INFO", logger="inventory-service")
    caplog.clear()  # the earlier batch may have been logged already (the level set by another test)
    InventoryHandler(store, tmp_settings)(batch)
    (line,) = [r for r in caplog.records if r.msg.startswith("batch of")]
    assert (line.reserved, line.failed, line.duplicates, line.poison) == (5, 3, 1, 1)
    assert again.event_id in line.event_ids and len(line.event_ids) == 9
    # besides the batch's line, only the two that need a look: the duplicate and the poison message
    assert len(caplog.records) == 3
