"""Consumer fuzzing against the real broker: hypothesis builds batches of good orders, duplicates
(same event_id, another body) and bad records (arbitrary bytes, deep nesting, huge and negative numbers, wrong
types, unicode, empty, oversized, tombstones) with arbitrary keys and headers, interleaved, produced straight
to `OrderEvents`. Asserted for every batch: each good order is reserved exactly once (one result event id),
each bad record is in `OrderEvents.DLQ` with a reason, stock arithmetic is exact, analytics counts exactly
the good orders and none stays pending, and neither consumer dies or stops.

`make test` runs FUZZ_EXAMPLES=25 batches (about 500 records); a longer run:
`FUZZ_EXAMPLES=5000 .venv/bin/pytest streaming-kafka/tests/integration/test_consumer_fuzz.py`.
"""
import itertools
import json
import uuid
from collections import Counter, defaultdict

import pytest
import requests
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from common.menu import ITEMS
from common.settings import Settings
from labkit.fuzz_messages import batches, realize
from labkit.stack import wait_for
from streaming_kafka.events import OrderPlaced, now_ms
from streaming_kafka.kafka_io import TopicPartition, make_producer, make_reader
from streaming_kafka.lab.client import Client
from streaming_kafka.lab.scenarios import wait_caught_up
from streaming_kafka.topology import DLQ_REASON_HEADER, DLQ_TOPIC, INVENTORY_TOPIC, ORDER_TOPIC

pytestmark = pytest.mark.integration
EXAMPLES = Settings().fuzz_examples
SERVICES = ("inventory-consumer", "analytics-consumer", "producer-order")
RUN = uuid.uuid4().int >> 80  # ids never seen by this broker before, examples never collide
NUMBERS = itertools.count(RUN << 40)


def template(order_id, event_id, item, quantity) -> dict:
    return OrderPlaced.new(order_id=order_id, event_id=event_id, student_id="fuzz",
                           item=item, quantity=quantity, ts_ms=now_ms()).to_dict()


class Broker:
    """A producer, and a reader of what the inventory consumer writes (results and dead letters) from now on."""

    def __init__(self, settings):
        self.producer = make_producer(settings, bulk=False, linger_ms=5, max_request_size=4 * 1024 * 1024)
        self.reader = make_reader(settings)
        tps = [TopicPartition(INVENTORY_TOPIC, p) for p in self.reader.partitions_for_topic(INVENTORY_TOPIC)]
        tps.append(TopicPartition(DLQ_TOPIC, 0))
        self.reader.assign(tps)
        for tp, end in self.reader.end_offsets(tps).items():  # eager (seek_to_end waits for the first poll)
            self.reader.seek(tp, end)
        self.results: dict[str, list[bytes]] = defaultdict(list)  # source event id -> result values
        self.dead: dict[tuple[int, int], dict] = {}  # (source partition, source offset) -> DLQ headers

    def drain(self) -> None:
        for tp, recs in self.reader.poll(timeout_ms=100).items():
            for r in recs:
                if tp.topic == INVENTORY_TOPIC:
                    self.results[json.loads(r.value)["source_event_id"]].append(r.value)
                else:
                    h = {k: v.decode() for k, v in r.headers}
                    self.dead[(int(h["source_partition"]), int(h["source_offset"]))] = h

    def close(self) -> None:
        self.producer.close()
        self.reader.close()


@pytest.fixture(scope="module")
def fuzz(native_stack, settings):
    client = Client(settings)
    wait_caught_up(settings)
    client.reset_stock({item: 10**9 for item in ITEMS})
    pids = {s: native_stack.pid(s) for s in SERVICES}
    broker = Broker(settings)
    yield client, broker, settings
    broker.close()
    assert {s: native_stack.pid(s) for s in SERVICES} == pids, "a consumer process died during the fuzzing"
    order = client.order("pizza", 1)  # the whole path still works after all of it
    wait_for(lambda: (s := client.order_status(order["order_id"])) and s["status"] == "confirmed", 60,
             what="an order after the fuzz")
    client.reset_stock()


@hsettings(max_examples=EXAMPLES, deadline=None,
           suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(cases=batches(template, Settings().max_message_bytes, st.binary(max_size=30), tombstones=True,
                     timestamps=True))
def test_consumers_survive_any_record_and_process_every_good_order_once(fuzz, cases):
    client, broker, settings = fuzz
    stock, before = client.stock(), client.metrics()
    sent = realize(cases, template, NUMBERS)
    futures = []
    for case, (body, ev) in zip(cases, sent, strict=True):
        key = ev["order_id"].encode() if ev else case.key
        futures.append(broker.producer.send(ORDER_TOPIC, key=key, value=body, headers=list(case.headers)))
    broker.producer.flush()
    where = [(m.partition, m.offset) for m in (f.get(timeout=30) for f in futures)]

    goods = {ev["event_id"]: ev for c, (_, ev) in zip(cases, sent, strict=True) if c.kind == "good"}
    deliveries = Counter(ev["event_id"] for c, (_, ev) in zip(cases, sent, strict=True) if c.kind != "bad")
    bad = {w: c for c, w in zip(cases, where, strict=True) if c.kind == "bad"}

    def done():
        broker.drain()
        return all(len(broker.results[e]) >= n for e, n in deliveries.items()) and set(bad) <= set(broker.dead)

    try:
        wait_for(done, 60, interval=0.05, what="every good order's result and every bad record dead-lettered")
    except TimeoutError:
        missing = [c.why for w, c in bad.items() if w not in broker.dead]
        pending = [e for e, n in deliveries.items() if len(broker.results[e]) < n]
        pytest.fail(f"not dead-lettered: {missing}; without a result: {len(pending)} of {len(deliveries)} "
                    f"(inventory consumer: {requests.get(f'{client.inventory_url}/health', timeout=5).text})")

    for e, order in goods.items():
        results = broker.results.pop(e)
        assert len(set(results)) == 1, "reserved more than once, or a duplicate re-published another result"
        r = json.loads(results[0])
        assert (r["event_type"], r["order_id"], r["item"], r["quantity"]) == (
            "InventoryReserved", order["order_id"], order["item"], order["quantity"])
    assert not {k: v for k, v in broker.results.items() if v}, "a result for something that was not a good order"
    for w, case in bad.items():
        assert broker.dead.pop(w).get(DLQ_REASON_HEADER), f"{case.why}: dead-lettered without a reason"
    assert not broker.dead, "a good order was dead-lettered"

    used = Counter()
    for order in goods.values():
        used[order["item"]] += order["quantity"]
    assert client.stock() == {item: stock[item] - used[item] for item in stock}
    wait_caught_up(settings, timeout=60)
    after = client.metrics()
    assert after["total_orders_seen"] - before["total_orders_seen"] == len(goods)
    assert (after["orders_pending"], after["results_without_order"]) == (
        before["orders_pending"], before["results_without_order"])
