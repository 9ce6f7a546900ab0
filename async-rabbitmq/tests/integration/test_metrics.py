"""Part B started natively: /metrics of the entry service and inventory follow N orders, through the broker."""
import pytest

from async_rabbitmq.messaging import topology
from labkit.testing import place_orders, scrape_url, wait_for_metric

pytestmark = pytest.mark.integration
N = 15


def test_scrapes_follow_the_orders_through_the_broker(native_stack, settings):
    before_order, before_inv = scrape_url(settings.order_url), scrape_url(settings.inventory_url)
    done = before_inv.value("reservations_total")
    ids = place_orders(settings.order_url, N, timeout=10)
    assert wait_for_metric(settings.inventory_url, "reservations_total", done + N) == done + N
    order = scrape_url(settings.order_url)
    assert order.value("orders_total", outcome="pending") - before_order.value("orders_total", outcome="pending") == N
    assert order.value("broker_scrape_ok") == 1
    assert order.value("broker_queue_messages", queue=topology.ORDERS_DLQ) >= 0
    assert {topology.INVENTORY_ORDERS, topology.ORDERS_DLQ} <= order.label_values()
    inventory = scrape_url(settings.inventory_url)
    consumed = (inventory.value("messages_consumed_total", consumer=topology.INVENTORY_ORDERS)
                - before_inv.value("messages_consumed_total", consumer=topology.INVENTORY_ORDERS))
    assert consumed >= N  # a redelivery would count again
    assert not any(oid in v for oid in ids for s in (order, inventory) for v in s.label_values())
