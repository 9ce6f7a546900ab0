"""The original lab's load test on a fresh stack: 10,000 events through `/bulk` with fail_rate 0.1 show about 10%
failures, the injected ones only: Part C's initial stock (KAFKA_INITIAL_STOCK) does not run out."""
import pytest
import requests

from common.menu import uniform_stock
from labkit.stack import wait_for
from streaming_kafka.lab.client import Client
from streaming_kafka.lab.scenarios import counts, delta, wait_caught_up

pytestmark = pytest.mark.integration


def test_ten_thousand_orders_with_fail_rate_0_1_fail_about_ten_percent(native_stack, settings):
    client = Client(settings)
    # The counts before are read at rest (as every scenario does): an earlier test's results still on their way to
    # analytics would leave its pending count above where it settles, and the wait below would never see it again.
    wait_caught_up(settings)
    # What a fresh stack starts with; a reset without a body restores it (the stack may be reused).
    stock = requests.post(f"{client.inventory_url}/admin/reset", timeout=30).json()
    assert stock == dict(uniform_stock(settings.kafka_initial_stock)) and "fries" in stock
    before = counts(client.metrics())
    sent = client.bulk(10_000, fail_rate=0.1, seed=7)
    assert sent["published"] == 10_000
    wait_caught_up(settings)
    after = wait_for(lambda: (m := counts(client.metrics()))["orders"] - before["orders"] >= 10_000
                     and m["pending"] == before["pending"] and m, 120, interval=0.5,
                     what="analytics to count the 10,000 orders")
    d = delta(before, after)
    assert d["orders"] == 10_000 and d["duplicates"] == 0
    assert d["failed"] == sent["force_fail_flagged"] == d["reasons"].get("forced_failure", 0)
    assert d["reasons"].get("out_of_stock", 0) == 0
    assert 0.08 < d["failed"] / d["orders"] < 0.12
    assert all(client.stock()[item] == settings.kafka_initial_stock - d["units"][item] for item in stock)
