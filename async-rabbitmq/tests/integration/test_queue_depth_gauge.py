"""The entry service's queue-depth gauge against the broker's own count: with inventory stopped and a known
backlog, `broker_queue_messages_ready{queue="inventory_orders"}` on /metrics, the dashboard's `queue_depth`,
`rabbitmqctl list_queues` and RabbitMQ's own rabbitmq_prometheus plugin all say the same number."""
import json

import pytest
import requests

from async_rabbitmq.lab.broker.native import NativeBroker, prometheus_port
from async_rabbitmq.lab.stack import backlog
from async_rabbitmq.messaging.nodes import nodes
from async_rabbitmq.messaging.topology import INVENTORY_ORDERS
from labkit.stack import wait_for
from labkit.testing import Scrape, dashboard_url, place_orders, scrape_url

pytestmark = pytest.mark.integration
BACKLOG = 17


def rabbitmqctl_ready(settings) -> int:
    out = NativeBroker(settings).ctl("list_queues", "--quiet", "--formatter", "json", "name", "messages_ready")
    assert out.returncode == 0, out.stderr
    return {q["name"]: q["messages_ready"] for q in json.loads(out.stdout)}[INVENTORY_ORDERS]


def plugin_scrape(settings, path: str = "/metrics") -> Scrape:
    """RabbitMQ's own exposition (rabbitmq_prometheus), on its loopback port."""
    r = requests.get(f"http://127.0.0.1:{prometheus_port(settings, nodes(settings)[0])}{path}", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain"), r.text[:200]
    return Scrape(r.text)


def test_rabbitmqs_own_prometheus_plugin_answers_on_loopback(native_stack, settings):
    assert plugin_scrape(settings).value("rabbitmq_identity_info") == 1


def test_the_gauge_equals_the_brokers_count(native_stack, settings):
    sample = backlog(settings)
    wait_for(lambda: sample()[INVENTORY_ORDERS] == 0, 60, what="inventory_orders to be empty")
    native_stack.stop("inventory-service")
    try:
        place_orders(settings.order_url, BACKLOG)
        wait_for(lambda: sample()[INVENTORY_ORDERS] == BACKLOG, 30, what="the backlog in inventory_orders")
        gauge = lambda: scrape_url(settings.order_url).value("broker_queue_messages_ready",  # noqa: E731
                                                             queue=INVENTORY_ORDERS)
        # the management API's figures trail the queue by its statistics interval (1 s natively)
        wait_for(lambda: gauge() == BACKLOG, 30, what=f"the gauge to reach {BACKLOG}")
        assert rabbitmqctl_ready(settings) == BACKLOG
        per_queue = lambda: plugin_scrape(settings, "/metrics/per-object").value(  # noqa: E731
            "rabbitmq_queue_messages_ready", queue=INVENTORY_ORDERS)
        wait_for(lambda: per_queue() == BACKLOG, 30, what="rabbitmq_prometheus to count the backlog")
        assert scrape_url(settings.order_url).value("broker_queue_messages", queue=INVENTORY_ORDERS) == BACKLOG
        board = lambda: requests.get(dashboard_url(settings) + "api/state", timeout=5).json()  # noqa: E731
        wait_for(lambda: board()["text"]["queue_depth"] == str(BACKLOG), 15, what="the dashboard's queue_depth")
    finally:
        native_stack.start("inventory-service")
    wait_for(lambda: sample()[INVENTORY_ORDERS] == 0, 60, what="inventory to drain inventory_orders")
