"""Part A started natively (gunicorn, several workers per service): each service's /metrics is the whole
service's, and its counters follow the orders placed."""
import pytest
import requests

from labkit.testing import scrape_url

pytestmark = pytest.mark.integration
N = 12


def test_scrapes_follow_the_orders_across_workers(native_stack, settings):
    urls = (settings.order_url, settings.inventory_url, settings.notification_url)
    before = [scrape_url(u) for u in urls]
    answers = [requests.post(f"{settings.order_url}/order", json={"student_id": "m", "item": "coffee", "quantity": 1},
                             timeout=15) for _ in range(N)]
    outcomes = [a.json()["status"] for a in answers]
    for _ in range(4):  # whichever worker answers, the same totals
        order, inventory, notification = (scrape_url(u) for u in urls)
        for outcome in set(outcomes):
            assert (order.value("orders_total", outcome=outcome) - before[0].value("orders_total", outcome=outcome)
                    == outcomes.count(outcome))
        assert (order.value("http_requests_total", route="/order", method="POST")
                - before[0].value("http_requests_total", route="/order", method="POST")) == N
        reserved = outcomes.count("confirmed")
        assert (inventory.value("reservations_total", outcome="reserved")
                - before[1].value("reservations_total", outcome="reserved")) == reserved
        assert (notification.value("http_requests_total", route="/send", status="200")
                - before[2].value("http_requests_total", route="/send", status="200")) == reserved
        assert order.value("circuit_breaker_state") == 0
        assert not any(a.json()["order_id"] in v for a in answers for v in order.label_values())
