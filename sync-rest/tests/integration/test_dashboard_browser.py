"""Part A's dashboard in headless Chromium: it loads with no console error and no request elsewhere, counts the
confirmed orders as they are placed, and shows the breaker open while inventory is stopped."""
import pytest
import requests

from labkit.stack import wait_for
from labkit.testing import dashboard_url, reset_stock, scrape_url

pytestmark = pytest.mark.integration
N = 5


def order(settings) -> int:
    return requests.post(f"{settings.order_url}/order", json={"student_id": "dash", "item": "soda", "quantity": 1},
                         timeout=10).status_code


def test_the_page_follows_the_orders_and_shows_the_breaker_open(native_stack, settings, browser):
    url = dashboard_url(settings)
    reset_stock(settings)
    browser.open(url)
    start = int(browser.wait_metric("orders_confirmed", "/^\\d+$/.test(v)"))
    assert browser.metric("breaker_state") == "closed"
    assert [order(settings) for _ in range(N)] == [201] * N
    browser.wait_metric("orders_confirmed", f"Number(v) >= {start + N}")
    native_stack.stop("inventory-service")
    try:
        # each order fails fast (connection refused) until the breaker opens and refuses them itself
        codes = [order(settings) for _ in range(settings.breaker_failure_threshold + 2)]
        assert set(codes) == {503}, codes
        browser.wait_metric("breaker_state", "v === 'open'")
        browser.wait_for("document.querySelector('[data-service=\"inventory-service\"] .down') !== null")
        assert int(browser.metric("orders_failed")) >= len(codes)
        shot = browser.screenshot(settings.run_dir / "screenshots" / "sync-rest-dashboard.png")
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        native_stack.start("inventory-service")
        # leave the stack as the next ring expects it: the breaker closed again (after its reset time, the
        # half-open probe succeeds)
        wait_for(lambda: order(settings) == 201 and scrape_url(settings.order_url).value("circuit_breaker_state") == 0,
                 timeout=settings.breaker_reset_s * 3 + 10, interval=0.5, what="the breaker to close again")
    assert browser.errors == []
    assert all(u.startswith(url) for u in browser.requests), browser.requests
