"""Part C started natively: /metrics of the producer and the inventory consumer follow N orders through
Kafka; the analytics consumer answers JSON by default and the exposition format when asked."""

import pytest
import requests

from labkit.stack import wait_for
from labkit.testing import place_orders, scrape_url, wait_for_metric
from streaming_kafka.topology import ANALYTICS_GROUP, INVENTORY_GROUP, ORDER_TOPIC

pytestmark = pytest.mark.integration
N = 15


def lag_zero(url: str, group: str) -> bool:
    got = scrape_url(url)
    return got.value("kafka_lag_fresh") == 1 and got.value("kafka_consumer_group_lag", group=group) == 0


def test_scrapes_follow_the_orders_through_kafka(native_stack, settings):
    before_prod, before_inv = scrape_url(settings.order_url), scrape_url(settings.inventory_url)
    done = before_inv.value("reservations_total")
    ids = place_orders(settings.order_url, N)
    assert wait_for_metric(settings.inventory_url, "reservations_total", done + N) == done + N
    prod = scrape_url(settings.order_url)
    assert prod.value("orders_total", outcome="pending") - before_prod.value("orders_total", outcome="pending") == N
    assert (prod.value("events_produced_total", topic=ORDER_TOPIC)
            - before_prod.value("events_produced_total", topic=ORDER_TOPIC)) == N
    assert prod.value("kafka_lag_fresh") == 1 and {INVENTORY_GROUP, ANALYTICS_GROUP} <= prod.label_values()
    # every order processed and committed
    wait_for(lambda: lag_zero(settings.order_url, INVENTORY_GROUP), 60, interval=0.5,
             what="inventory-group's lag gauge at 0")
    inventory = scrape_url(settings.inventory_url)
    assert (inventory.value("messages_consumed_total", consumer=INVENTORY_GROUP)
            - before_inv.value("messages_consumed_total", consumer=INVENTORY_GROUP)) >= N
    analytics_json = requests.get(f"{settings.notification_url}/metrics", timeout=10)
    assert analytics_json.headers["Content-Type"].startswith("application/json")
    seen = analytics_json.json()["total_orders_seen"]
    assert scrape_url(settings.notification_url).value("analytics_orders_seen") >= seen
    assert not any(oid in v for oid in ids for s in (prod, inventory) for v in s.label_values())
