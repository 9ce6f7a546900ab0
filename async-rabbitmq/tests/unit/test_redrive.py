"""Which dead letters `make redrive` re-publishes, and where to (no broker)."""
import pytest

from async_rabbitmq.messaging import topology
from async_rabbitmq.messaging.messages import REASON_HEADER
from async_rabbitmq.messaging.redrive import retryable, target_queue

pytestmark = pytest.mark.unit


def test_target_is_the_queue_that_rejected_it_and_only_one_this_dlq_collects_from():
    assert target_queue(topology.EVENTS_DLQ, {"x-original-queue": "notifications"}) == "notifications"
    assert target_queue(topology.EVENTS_DLQ, {"x-original-queue": b"order_status"}) == "order_status"
    assert target_queue(topology.EVENTS_DLQ, {"x-original-queue": "inventory_orders"}) is None
    assert target_queue(topology.EVENTS_DLQ, {}) is None  # two possible sources: not guessed
    assert target_queue(topology.ORDERS_DLQ, {}) == "inventory_orders"  # one possible source
    assert target_queue(topology.ORDERS_DLQ, {"x-death": [{"queue": "inventory_orders", "reason": "rejected"}]}) \
        == "inventory_orders"
    assert target_queue("elsewhere", {"x-original-queue": "inventory_orders"}) is None


@pytest.mark.parametrize("reason, expected", [
    ("retries_exhausted", True), ("handler_error", True), (None, True), (b"retries_exhausted", True),
    ("not_json", False), ("too_deep", False), ("unknown_item", False), ("oversized", False),
])
def test_only_retryable_reasons_by_default(reason, expected):
    headers = {} if reason is None else {REASON_HEADER: reason}
    assert retryable(headers) is expected
