"""Part C's scenario ring: the scenarios of `streaming_kafka.lab.scenarios`, at a smaller scale, against the natively
started stack and, marked `docker`, against the part's compose stack; every outcome is asserted. Run as a
script, it is the evidence writer `python -m streaming_kafka.lab.evidence`.
"""
from __future__ import annotations

import json
import sys

import pytest

from common.errors import exit_status
from streaming_kafka.lab import scenarios as sc
from streaming_kafka.lab.client import Client
from streaming_kafka.lab.evidence.scenarios import main
from streaming_kafka.lab.scenarios import QUICK
from streaming_kafka.topology import ANALYTICS_GROUP, INVENTORY_GROUP

# ---------------------------------------------------------------- pytest (integration, smaller scale)
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client_settings(stack):
    """How these tests reach the stack under test: the native part's settings, or the compose stack's ports."""
    return stack.settings


def _one_result_each(d: dict, count: int) -> None:
    assert d["orders"] == count
    assert d["reserved"] + d["failed"] == count
    assert d["pending"] == 0


def test_produce_and_lag_zero(stack, client_settings):
    client = Client(client_settings)
    client.reset_stock()
    p = sc.produce(stack, client, count=QUICK["first"], fail_rate=0.1)
    assert p.response["published"] == QUICK["first"]
    _one_result_each(p.delta, QUICK["first"])
    assert 0.05 < p.delta["reasons"]["forced_failure"] / QUICK["first"] < 0.15
    for g in (INVENTORY_GROUP, ANALYTICS_GROUP):
        assert p.lag[g] and all(r.lag == 0 for r in p.lag[g])


def test_lag_grows_while_stopped_then_drains(stack, client_settings):
    lt = sc.lag_over_time(stack, Client(client_settings), count=QUICK["lag"])
    assert lt.peak >= QUICK["lag"] * 0.9
    assert lt.final == 0


# Natively only: how lag grows under a throttled consumer is the service's, and the compose stack's way of throttling
# it (recreating it with a fault variable) is the docker ring's to check (ADMIN_API, KAFKA_CLIENT).
@pytest.mark.parametrize("stack", ["native"], indirect=True)
def test_lag_grows_while_throttled_then_drains(stack, client_settings):
    lt = sc.lag_over_time(stack, Client(client_settings), count=3000, mode="throttle", delay_ms=2, paused_s=1)
    assert lt.peak > 0 and lt.final == 0


def test_crash_mid_stream_exactly_one_result_and_exact_stock(stack, client_settings):
    c = sc.crash(stack, Client(client_settings), count=QUICK["crash"])
    _one_result_each(c.delta, QUICK["crash"])
    assert c.lost == 0
    for item in c.stock_before:
        assert c.stock_used[item] == c.delta["units"][item] == c.store["reserved_units"].get(item, 0)


def test_scale_out_shares_partitions_and_takes_over(stack, client_settings):
    c = sc.scale_out(stack, Client(client_settings), count=QUICK["scale"])
    shared = c.extra["shared"]
    assert shared["inventory-consumer"] and shared["inventory-consumer-2"]
    assert sorted(shared["inventory-consumer"] + shared["inventory-consumer-2"]) == list(range(client_settings.kafka_partitions))
    _one_result_each(c.delta, QUICK["scale"])
    assert c.extra["same_stock_seen_by_both"]  # one stock for every instance (one SQLite file / one volume)
    for item in c.stock_before:
        assert c.stock_used[item] == c.delta["units"][item] == c.store["reserved_units"].get(item, 0)


def test_single_orders_get_a_result(stack, client_settings):
    for o in sc.order_roundtrip(stack, Client(client_settings), n=3).orders:
        assert o.status in ("confirmed", "failed")


def test_replays_identical_and_equal_live(stack, client_settings):
    rp = sc.replay_twice(stack, Client(client_settings))
    assert rp.runs[0].group != rp.runs[1].group
    assert all(r.group.startswith("analytics-group-replay-") for r in rp.runs)
    assert rp.identical and rp.equal_to_live
    assert json.loads(rp.live_text)["total_orders_seen"] == rp.runs[0].metrics["total_orders_seen"] > 0


if __name__ == "__main__":  # the lab's documented command, kept: the evidence writer
    sys.exit(exit_status(main))
