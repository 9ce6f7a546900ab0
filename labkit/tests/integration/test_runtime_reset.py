"""A part's data outlives `make down`, and `make reset` forgets it: Part A started natively on a run directory of
its own, an order placed, the stock still lowered after `down` and `up`, reset refused in one line while the part
runs, then after `down` + reset the next `up` starts from the initial stock, with the logs kept. Real processes:
run under the flock."""
import shutil
import tempfile
from pathlib import Path

import pytest
import requests

from common.menu import INITIAL_STOCK
from common.settings import Settings
from labkit.runtime.control import port_owner
from labkit.testing import STACKS, foreign_stack, refused_in_one_line, runtime_cli

pytestmark = pytest.mark.integration
PART = "sync-rest"


@pytest.fixture
def run_dir():
    """A run directory of its own (never the user's .run/, whose data a reset would forget); a part left running
    there by a failure is taken down."""
    path = Path(tempfile.mkdtemp(prefix="foodlab-reset-"))
    yield path
    runtime_cli(path, "down")
    shutil.rmtree(path, ignore_errors=True)


def test_data_outlives_down_and_reset_forgets_it(run_dir):
    STACKS.release()  # this session's own stack, if any, would hold the same ports
    reason = foreign_stack(Settings())
    if reason:
        pytest.skip(f"left alone: {reason}")
    settings = Settings()
    held = {port: port_owner(port) for port in (settings.order_port, settings.inventory_port, settings.notification_port)}
    held = {port: owner for port, owner in held.items() if owner}
    if held:
        pytest.skip(f"left alone: the part's ports are held by another program: {held}")

    def cli(*args: str):
        out = runtime_cli(run_dir, *args, PART)
        assert out.returncode == 0, out.stdout + out.stderr
        return out

    def pizzas() -> int:
        return requests.get(f"{settings.inventory_url}/stock", timeout=10).json()["pizza"]

    cli("up")
    initial = INITIAL_STOCK["pizza"]
    assert pizzas() == initial
    order = requests.post(f"{settings.order_url}/order", json={"student_id": "s1", "item": "pizza", "quantity": 3},
                          timeout=10)
    assert order.status_code == 201, order.text
    assert pizzas() == initial - 3
    line = refused_in_one_line(runtime_cli(run_dir, "reset", PART))
    assert f"make reset PART={PART}" in line

    cli("down")
    cli("up")
    assert pizzas() == initial - 3  # the stock outlived `make down`
    cli("down")

    assert "removed data" in cli("reset").stdout
    assert (run_dir / PART / "logs" / "order-service.log").exists()
    cli("up")
    assert pizzas() == initial
    cli("down")
