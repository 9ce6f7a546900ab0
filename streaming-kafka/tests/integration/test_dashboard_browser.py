"""Part C's dashboard in headless Chromium: it loads with no console error and no request elsewhere, counts the
confirmed orders, and shows the inventory group's lag growing while its consumer is stopped and draining once it
is back."""
import pytest

from labkit.testing import dashboard_url, place_orders
from streaming_kafka.lab.scenarios import wait_caught_up

pytestmark = pytest.mark.integration
N = 5
BACKLOG = 20


def test_the_page_follows_the_orders_and_shows_the_lag(native_stack, settings, browser):
    url = dashboard_url(settings)
    wait_caught_up(settings)
    browser.open(url)
    start = int(browser.wait_metric("orders_confirmed", "/^\\d+$/.test(v)", timeout_s=60))
    browser.wait_metric("lag_inventory", "v === '0'", timeout_s=60)
    place_orders(settings.order_url, N)
    browser.wait_metric("orders_confirmed", f"Number(v) >= {start + N}", timeout_s=60)
    native_stack.stop("inventory-consumer")
    try:
        place_orders(settings.order_url, BACKLOG)
        browser.wait_metric("lag_inventory", f"Number(v) === {BACKLOG}")
        assert browser.metric("lag_analytics").isdigit()
        browser.wait_for("document.querySelector('[data-service=\"inventory-consumer\"] .down') !== null")
        shot = browser.screenshot(settings.run_dir / "screenshots" / "streaming-kafka-dashboard.png")
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        native_stack.start("inventory-consumer")
    browser.wait_metric("lag_inventory", "v === '0'", timeout_s=120)
    browser.wait_metric("orders_confirmed", f"Number(v) >= {start + N + BACKLOG}", timeout_s=60)
    assert browser.errors == []
    assert all(u.startswith(url) for u in browser.requests), browser.requests
