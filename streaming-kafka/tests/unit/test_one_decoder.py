"""Both Part C consumers read an event the same way: one decoder, one depth limit."""
import json

import pytest

from common.schemas import MAX_JSON_DEPTH
from common.stock import StockStore
from streaming_kafka.analytics_consumer.metrics import MetricsState
from streaming_kafka.events import OrderPlaced, encode
from streaming_kafka.inventory_consumer.handler import InventoryHandler

pytestmark = pytest.mark.unit

GOOD = OrderPlaced.new(order_id="ORD-1795590180000-0000dee9", event_id="d" * 32, student_id="s",
                       item="pizza", quantity=1, ts_ms=1_795_590_180_000).to_dict()


def nested(depth: int) -> bytes:
    """A valid OrderPlaced with one extra field nested so that the whole value is `depth` levels deep."""
    inner = b"[" * (depth - 1) + b"]" * (depth - 1)
    return encode({**GOOD, "x": 1}).replace(b'"x":1', b'"x":' + inner)


# MAX_JSON_DEPTH + 1: just over our limit; 1000: under orjson's own limit (1024) and over what the standard
# library's recursive parser reaches, the record the two consumers used to disagree on.
@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1000])
def test_a_record_too_deep_for_inventory_is_no_order_for_analytics(tmp_path, depth):
    raw = nested(depth)
    (action,) = InventoryHandler(StockStore(tmp_path / "inv.db")).handle([raw])
    state = MetricsState(max_bytes=64 * 1024)
    assert (action.kind, action.reason) == ("dead", "too_deep")
    assert state.add(raw) is False and state.order_status(GOOD["order_id"]) is None


def test_a_record_at_the_limit_is_an_order_for_both(tmp_path):
    raw = nested(MAX_JSON_DEPTH)
    (action,) = InventoryHandler(StockStore(tmp_path / "inv.db")).handle([raw])
    state = MetricsState(max_bytes=64 * 1024)
    assert action.kind == "result" and json.loads(action.value)["event_type"] == "InventoryReserved"
    assert state.add(raw) is True and state.order_status(GOOD["order_id"]) == {"order_id": GOOD["order_id"],
                                                                               "status": "pending"}
