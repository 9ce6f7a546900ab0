"""Slow clients (slowloris-style) against every HTTP service of Part C, natively started: 100 connections
per service send their head byte by byte or never finish their body; meanwhile normal requests answer within
their timeout, and afterwards the service holds none of those connections. A 1 MiB body, sent whole,
gets a 413 JSON error the client reads. Bounded: 100 clients, ~60 s
at most per service, loopback only (labkit/slow_clients.py)."""
import pytest

from labkit import oversized
from labkit.slow_clients import service_probe, slow_client_ring

pytestmark = pytest.mark.integration

SERVICES = [  # (service, its port setting, a POST path it serves, gunicorn or waitress)
    ("producer-order", "order_port", "/order"),  # gunicorn
    ("inventory-consumer", "inventory_port", "/admin/reset"),  # waitress beside the poll loop
    ("analytics-consumer", "notification_port", "/metrics"),  # waitress beside the poll loop (405 to a POST)
]


@pytest.mark.parametrize("service, port_field, post_path", SERVICES, ids=[s[0] for s in SERVICES])
def test_slow_clients_do_not_starve_the_service(native_stack, settings, service, port_field, post_path):
    port = getattr(settings, port_field)
    result = slow_client_ring(port, post_path, service_probe(port, post_path), count=100, probes=5)
    assert result.problems() == [], result


@pytest.mark.parametrize("service, port_field, post_path", SERVICES, ids=[s[0] for s in SERVICES])
def test_an_oversized_body_gets_a_413_json_error_the_client_reads(native_stack, settings, service, port_field,
                                                                  post_path):
    """A 1 MiB body sent whole, by `requests` and by a raw socket: a 413 JSON error, then a clean close."""
    assert oversized.problems(getattr(settings, port_field), post_path) == []
