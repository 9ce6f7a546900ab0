"""Part C's docker ring: what only the compose stack shows (run by `make test` with STACK_RUNTIME=docker, after
the scenario ring `tests/test_streaming.py` ran against the same stack): the shared checks, and the metrics file
the analytics container writes into its bind mount on the host."""
import json
from pathlib import Path

import pytest
import requests

from labkit import dockercheck as dc
from labkit.stack import wait_for

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def ring():
    return {"inventory": "inventory-consumer", "crashable": "analytics-consumer", "front": "producer-order",
            "built": ["producer-order", "inventory-consumer", "analytics-consumer"]}


def test_analytics_writes_the_metrics_file_on_the_host_as_non_root(docker_stack, client_settings):
    source = docker_stack.inspect("analytics-consumer", '{{range .Mounts}}{{if eq .Destination "/metrics"}}'
                                                        '{{.Source}}{{end}}{{end}}')
    path = Path(source) / "metrics_output.json"

    def seen() -> int:  # analytics may have been restarted by an earlier check: it rebuilds from the log
        return requests.get(f"{client_settings.notification_url}/metrics", timeout=10).json()["total_orders_seen"]

    total = wait_for(seen, 120, interval=0.5, what="analytics to count the scenario ring's orders")
    wait_for(lambda: path.exists() and json.loads(path.read_text())["total_orders_seen"] == total == seen(), 60,
             interval=0.5, what=f"{path} to hold the live metrics")
    uid = dc.process_uids(docker_stack)["analytics-consumer"][0]
    assert uid != 0 and path.stat().st_uid == uid


# Last: the checks every part shares, whose volume check ends with `down -v` and `up` (an empty broker), so it must
# come after the metrics check above (pytest runs a module's tests in the order they are defined).
from labkit.docker_ring import *  # noqa: E402,F401,F403

