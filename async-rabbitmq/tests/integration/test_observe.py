"""`make observe`'s Prometheus against the running Part B: every job it is configured with is up (the services
and RabbitMQ's own plugin), and PromQL answers with the queue-depth gauge."""
import shutil
import socket
import subprocess

import pytest
import requests

from labkit.observe import argv, write_config
from labkit.stack import wait_for

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_prometheus_scrapes_every_service_of_the_part(native_stack, settings, tmp_path):
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus is not installed (make observe installs Debian's package)")
    s = settings.model_copy(update={"run_dir": tmp_path, "prometheus_port": free_port()})
    path = write_config("async-rabbitmq", s)
    proc = subprocess.Popen(argv(binary, path, s), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    api = f"http://127.0.0.1:{s.prometheus_port}/api/v1/query"

    def query(expr: str) -> list[dict]:
        try:
            return requests.get(api, params={"query": expr}, timeout=5).json()["data"]["result"]
        except (requests.RequestException, ValueError, KeyError):
            return []

    try:
        ups = lambda: {r["metric"]["job"]: r["value"][1] for r in query("up")}  # noqa: E731
        wanted = {"order-service", "inventory-service", "notification-service", "dashboard", "rabbitmq"}
        wait_for(lambda: set(ups()) == wanted and set(ups().values()) == {"1"}, 60, interval=1.0,
                 what="every job scraped and up")
        assert query('broker_queue_messages{queue="inventory_orders"}')
        assert query("rabbitmq_identity_info")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
