"""`make watch PART=async-rabbitmq` against the real broker: with inventory stopped, the orders placed wait in
`inventory_orders` and the watch counts them exactly, then sees the queue drain to 0 once inventory is back; the
command line prints them under a header naming every queue."""
import os
import subprocess
import sys

import pytest

from async_rabbitmq.lab.client import Client
from async_rabbitmq.lab.stack import backlog
from async_rabbitmq.messaging.topology import INVENTORY_ORDERS, QUEUES
from common.settings import ROOT
from labkit.stack import wait_for

pytestmark = pytest.mark.integration


def watch_once() -> list[str]:
    out = subprocess.run([sys.executable, "-m", "labkit.runtime", "watch", "async-rabbitmq", "--count", "1"], cwd=ROOT,
                         env=os.environ | {"STACK_RUNTIME": "native"}, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout.splitlines()


def test_the_watch_counts_the_orders_waiting_for_inventory(native_stack, settings):
    sample = backlog(settings)
    wait_for(lambda: sample()[INVENTORY_ORDERS] == 0, 60, what="inventory_orders to be empty")
    native_stack.stop("inventory-service")
    try:
        placed = Client(settings).place_many(20, threads=4)
        assert placed["statuses"] == [202] * 20
        wait_for(lambda: sample()[INVENTORY_ORDERS] == 20, 30, what="the 20 orders to wait in inventory_orders")
        banner, header, row = watch_once()
        assert "messages waiting" in banner
        assert header.split() == ["time", *(q.name for q in QUEUES)]
        assert row.split()[1 + [q.name for q in QUEUES].index(INVENTORY_ORDERS)] == "20"
    finally:
        native_stack.start("inventory-service")
    wait_for(lambda: sample()[INVENTORY_ORDERS] == 0, 60, what="inventory to drain inventory_orders")
    assert set(sample()) == {q.name for q in QUEUES}
