"""Issue 10, defect 9: OrderEvents and InventoryEvents with different partition counts stop the inventory
consumer at start-up with a clear error (it used to fail an assertion in the middle of processing)."""
import uuid

import pytest

from streaming_kafka.kafka_io import TopicSpec, make_admin

pytestmark = pytest.mark.integration


def test_mismatched_partition_counts_stop_the_inventory_consumer_at_start_up(native_stack, settings, monkeypatch):
    from streaming_kafka import topology
    suffix = uuid.uuid4().hex[:8]
    orders, results = f"OrderEvents-{suffix}", f"InventoryEvents-{suffix}"
    admin = make_admin(settings)
    admin.create_topics([TopicSpec(orders, 4, 1), TopicSpec(results, 2, 1)])
    try:
        monkeypatch.setattr(topology, "EVENT_TOPICS", (orders, results))
        monkeypatch.setattr(topology, "ORDER_TOPIC", orders)
        monkeypatch.setattr(topology, "INVENTORY_TOPIC", results)
        with pytest.raises(topology.TopologyError, match=f"{orders} has 4, {results} has 2"):
            topology.check_copartitioned(settings)
    finally:
        admin.delete_topics([orders, results])
        admin.close()

