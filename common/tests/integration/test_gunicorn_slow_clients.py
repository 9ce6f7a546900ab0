"""The gunicorn worker every Flask service runs (common/gunicorn_worker.py) against 100 slow clients with only
4 threads: normal requests still answer, the slow ones are dropped, and nothing is held afterwards. Plain
gthread times out every normal request here (each slow client holds a thread)."""
import socket

import pytest
import requests

from labkit.benchkit import echo_server
from labkit.slow_clients import slow_client_ring

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_slow_clients_do_not_starve_gunicorn():
    port = free_port()
    with echo_server(port, workers=1, threads=4) as url:
        def probe():
            health = requests.get(f"{url}/health", timeout=5).status_code
            echo = requests.post(f"{url}/echo", json={"a": 1}, timeout=5)
            return (health, echo.status_code, echo.json())

        result = slow_client_ring(port, "/echo", probe, count=100, probes=5)
    assert result.probes == [(200, 201, {"a": 1})] * 5, result.probes
    assert result.held_after <= result.held_before, result
