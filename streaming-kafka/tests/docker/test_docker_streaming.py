"""Part C's docker ring: what only the compose stack shows (run by `make test` with STACK_RUNTIME=docker, after
the scenario ring `tests/test_streaming.py` ran against the same stack): the shared checks, the metrics file
the analytics container writes into its bind mount on the host, and, last, the Kafka clients' services on the
other Kafka client (`KAFKA_CLIENT`) for a few orders and a small `/bulk`."""
import json
import os
from pathlib import Path

import pytest
import requests

from common.menu import ITEMS
from common.vocabulary import OrderStatus
from labkit import dockercheck as dc
from labkit.stack import wait_for
from streaming_kafka.lab import scenarios as sc
from streaming_kafka.lab.client import Client

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


# Then the checks every part shares, whose volume check ends with `down -v` and `up` (an empty broker), so they must
# come after the metrics check above (pytest runs a module's tests in the order they are defined).
from labkit.docker_ring import *  # noqa: E402,F401,F403

# ---------------------------------------------------------------------------------------- the other Kafka client
# The services that use Kafka (the dashboard reads HTTP only), the producer last: recreated one at a time, since one
# `up` of all three would hold the producer back until the engine's healthcheck saw its dependencies healthy (5 s).
KAFKA_CLIENTS = ["inventory-consumer", "analytics-consumer", "producer-order"]
LIBRDKAFKA = "librdkafka"  # mapped by a process once it uses confluent-kafka; kafka-python-ng is pure Python
ORDERS, BULK = 3, 1000


def test_the_kafka_clients_services_work_on_the_other_client(docker_stack, client_settings):
    """Defined after the shared checks, so it runs on the fresh stack their volume check leaves. The services
    that use Kafka are recreated with the other KAFKA_CLIENT (confluent-kafka under the default; the same
    image, no rebuild) on the same broker, committed offsets and stock volume: they really load librdkafka (or
    stop loading it), every order gets exactly one result, the stock moves by exactly the reserved units, and
    analytics rebuilds the whole log, written under the first client, plus the new orders. Then they are
    recreated as the stack had them."""
    client = Client(client_settings)
    first = (docker_stack.env | dict(os.environ)).get("KAFKA_CLIENT", "kafka-python-ng")
    other = "kafka-python-ng" if first == "confluent" else "confluent"

    def on_librdkafka() -> dict[str, bool]:
        client.order()  # the producer makes its Kafka client at its first order
        return {s: bool(dc.mapped(docker_stack, s, LIBRDKAFKA)) for s in KAFKA_CLIENTS}

    assert on_librdkafka() == dict.fromkeys(KAFKA_CLIENTS, first == "confluent")
    sc.wait_caught_up(client_settings)
    stock_before = client.reset_stock()
    before = sc.counts(client.metrics())
    for service in KAFKA_CLIENTS:
        docker_stack.start(service, env={"KAFKA_CLIENT": other})
    try:
        placed = [client.order(ITEMS[i], 2)["order_id"] for i in range(ORDERS)]
        assert client.bulk(BULK, fail_rate=0.1)["published"] == BULK
        sc.wait_caught_up(client_settings)
        # lag 0 says the new analytics committed past every new record; its rebuild of the older ones is seen
        # in its counts (it resumes from the log's start, not from the committed offsets)
        after = wait_for(lambda: (c := sc.counts(client.metrics()))["orders"] >= before["orders"] + ORDERS + BULK
                         and c, 60, interval=0.25, what="analytics to count the orders placed on the other client")
        assert {s: bool(dc.mapped(docker_stack, s, LIBRDKAFKA)) for s in KAFKA_CLIENTS} == \
            dict.fromkeys(KAFKA_CLIENTS, other == "confluent")
        d = sc.delta(before, after)
        assert d["orders"] == d["reserved"] + d["failed"] == ORDERS + BULK and d["pending"] == 0, d
        assert 0.05 < d["reasons"]["forced_failure"] / BULK < 0.15, d
        assert [client.order_status(oid)["status"] for oid in placed] == [OrderStatus.CONFIRMED] * ORDERS
        store, stock_after = client.reservations(), client.stock()
        for item in stock_before:
            assert stock_before[item] - stock_after[item] == d["units"][item] == store["reserved_units"].get(item, 0)
    finally:
        for service in KAFKA_CLIENTS:
            docker_stack.start(service)
    assert on_librdkafka() == dict.fromkeys(KAFKA_CLIENTS, first == "confluent")
