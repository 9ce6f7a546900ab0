"""`make watch PART=streaming-kafka` against the real broker: with the inventory consumer stopped, the events of a
`/bulk` are the inventory group's lag, exactly, and the lag goes back to 0 once the consumer is back; the command
line prints both groups under a header."""
import os
import subprocess
import sys

import pytest

from common.settings import ROOT
from labkit.stack import wait_for
from streaming_kafka.lab.client import Client
from streaming_kafka.lab.scenarios import wait_caught_up
from streaming_kafka.lab.stack import backlog
from streaming_kafka.topology import ANALYTICS_GROUP, INVENTORY_GROUP

pytestmark = pytest.mark.integration


def test_the_watch_shows_the_inventory_groups_lag(native_stack, settings):
    sample = backlog(settings)
    wait_caught_up(settings)
    assert sample() == {INVENTORY_GROUP: 0, ANALYTICS_GROUP: 0}
    native_stack.stop("inventory-consumer")
    try:
        assert Client(settings).bulk(2000)["published"] == 2000
        assert sample()[INVENTORY_GROUP] == 2000  # acknowledged by Kafka, read by nobody
        out = subprocess.run([sys.executable, "-m", "labkit.runtime", "watch", "streaming-kafka", "--count", "1"],
                             cwd=ROOT, env=os.environ | {"STACK_RUNTIME": "native"}, capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr
        banner, header, row = out.stdout.splitlines()
        assert "lag" in banner and header.split() == ["time", INVENTORY_GROUP, ANALYTICS_GROUP]
        assert row.split()[1] == "2000"
    finally:
        native_stack.start("inventory-consumer")
    wait_for(lambda: sample()[INVENTORY_GROUP] == 0, 120, what="the inventory group's lag to drain")
