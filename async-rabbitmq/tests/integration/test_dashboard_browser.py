"""Part B's dashboard in headless Chromium: it loads with no console error and no request elsewhere, counts the
confirmed orders, and shows the backlog growing in `inventory_orders` while inventory is stopped and draining
once it is back."""
import pytest

from labkit.testing import dashboard_url, place_orders, reset_stock

pytestmark = pytest.mark.integration
N = 5
BACKLOG = 20


def test_the_page_follows_the_orders_and_shows_the_backlog(native_stack, settings, browser):
    url = dashboard_url(settings)
    reset_stock(settings)
    browser.open(url)
    start = int(browser.wait_metric("orders_confirmed", "/^\\d+$/.test(v)"))
    browser.wait_metric("queue_depth", "v === '0'", timeout_s=60)
    assert browser.metric("dlq_depth").isdigit()
    place_orders(settings.order_url, N)
    browser.wait_metric("orders_confirmed", f"Number(v) >= {start + N}")
    native_stack.stop("inventory-service")
    try:
        place_orders(settings.order_url, BACKLOG)
        browser.wait_metric("queue_depth", f"Number(v) === {BACKLOG}")
        browser.wait_for("document.querySelector('[data-service=\"inventory-service\"] .down') !== null")
        shot = browser.screenshot(settings.run_dir / "screenshots" / "async-rabbitmq-dashboard.png")
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        native_stack.start("inventory-service")
    browser.wait_metric("queue_depth", "v === '0'", timeout_s=60)
    browser.wait_metric("orders_confirmed", f"Number(v) >= {start + N + BACKLOG}")
    assert browser.errors == []
    assert all(u.startswith(url) for u in browser.requests), browser.requests
