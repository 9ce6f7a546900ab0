"""Slow clients (slowloris-style) against every HTTP service of Part A, natively started: 100 connections
per service send their head byte by byte or never finish their body; meanwhile normal requests answer within
their timeout, and afterwards the service holds none of those connections. Bounded: 100 clients, ~60 s
at most per service, loopback only (common/slow_clients.py)."""
import pytest
import requests

from common.slow_clients import slow_client_ring

pytestmark = pytest.mark.integration

SERVICES = [  # (service, its port setting, a POST path it serves, gunicorn or waitress)
    ("order-service", "order_port", "/order"),  # gunicorn
    ("inventory-service", "inventory_port", "/reserve"),  # gunicorn
    ("notification-service", "notification_port", "/send"),  # gunicorn
]


@pytest.mark.parametrize("service, port_field, post_path", SERVICES, ids=[s[0] for s in SERVICES])
def test_slow_clients_do_not_starve_the_service(native_stack, settings, service, port_field, post_path):
    port = getattr(settings, port_field)
    base = f"http://127.0.0.1:{port}"

    def probe():
        health = requests.get(f"{base}/health", timeout=5)
        bad = requests.post(f"{base}{post_path}", data=b"{not json", timeout=5,
                            headers={"Content-Type": "application/json"})
        return (health.status_code, bad.status_code)

    result = slow_client_ring(port, post_path, probe, count=100, probes=5)
    assert result.report.opened == 100
    assert all(p != 0 and p[0] == 200 and 400 <= p[1] < 500 for p in result.probes), result.probes
    assert result.held_after <= result.held_before, result
