"""Consumer fuzzing against the real broker: hypothesis builds batches of good orders, duplicates
(same event_id, another body) and bad messages (arbitrary bytes, deep nesting, huge and negative numbers,
wrong types, unicode, empty, oversized) with arbitrary headers, interleaved, published straight to the
consumers' queues. Asserted for every batch: each good order is reserved exactly once (one result event id),
each bad message is dead-lettered with a reason, stock arithmetic is exact, and no consumer dies or stops.

`make test` runs FUZZ_EXAMPLES=25 batches (about 500 messages); a longer run:
`FUZZ_EXAMPLES=5000 .venv/bin/pytest async-rabbitmq/tests/integration/test_consumer_fuzz.py`.
"""
import itertools
import json
import time
import uuid
from collections import Counter, defaultdict

import pika
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from async_rabbitmq.lab.client import Client
from async_rabbitmq.messaging import topology
from async_rabbitmq.messaging.amqp import blocking_connection
from async_rabbitmq.messaging.messages import REASON_HEADER
from common.menu import INITIAL_STOCK, ITEMS
from common.settings import Settings
from labkit.fuzz_messages import batches, realize
from labkit.stack import wait_for

pytestmark = pytest.mark.integration
EXAMPLES = Settings().fuzz_examples
SERVICES = ("inventory-service", "order-service", "notification-service")
# Bad messages go to one of the three consumers; each dead-letters to its own queue.
TARGETS = ((topology.INVENTORY_ORDERS, topology.ORDERS_DLQ), (topology.ORDER_STATUS_QUEUE, topology.EVENTS_DLQ),
           (topology.NOTIFICATIONS_QUEUE, topology.EVENTS_DLQ))
RUN = uuid.uuid4().int >> 80  # ids never seen by this broker before, examples never collide
NUMBERS = itertools.count(RUN << 40)
header_values = st.one_of(st.text(max_size=30), st.integers(-(2**63), 2**63 - 1), st.booleans(),
                          st.binary(max_size=30), st.none())


def template(order_id, event_id, item, quantity) -> dict:
    return {"event_type": "OrderPlaced", "event_id": event_id, "order_id": order_id, "student_id": "fuzz",
            "item": item, "quantity": quantity, "timestamp": time.time()}


class Broker:
    """One connection: publishes with confirms, a tap on inventory results, and the two dead-letter queues."""

    def __init__(self, settings):
        self.conn = blocking_connection(settings)
        self.ch = self.conn.channel()
        self.ch.confirm_delivery()
        self.tap = self.ch.queue_declare("", exclusive=True).method.queue
        self.ch.queue_bind(self.tap, topology.INVENTORY_EVENTS, "inventory.*")
        for _, dlq in TARGETS:
            self.ch.queue_purge(dlq)
        self.results: dict[str, list[dict]] = defaultdict(list)  # causation (order event) id -> result events
        self.dead: dict[str, tuple[str, dict]] = {}  # message id -> (dead-letter queue, headers)

    def publish(self, queue: str, body: bytes, headers: dict, message_id: str) -> None:
        self.ch.basic_publish("", queue, body, pika.BasicProperties(
            delivery_mode=2, message_id=message_id, headers=headers or None), mandatory=True)

    def drain(self) -> None:
        for queue in (self.tap, topology.ORDERS_DLQ, topology.EVENTS_DLQ):
            while True:
                method, props, body = self.ch.basic_get(queue, auto_ack=True)
                if method is None:
                    break
                if queue == self.tap:
                    event = json.loads(body)
                    self.results[event["causation_id"]].append(event)
                else:
                    self.dead[props.message_id] = (queue, dict(props.headers or {}))

    def close(self) -> None:
        self.conn.close()


@pytest.fixture(scope="module")
def fuzz(native_stack, settings):
    lab = Client(settings)
    lab.reset_stock({item: 10**9 for item in ITEMS})
    pids = {s: native_stack.pid(s) for s in SERVICES}
    broker = Broker(settings)
    yield lab, broker, pids
    broker.close()
    assert {s: native_stack.pid(s) for s in SERVICES} == pids, "a consumer process died during the fuzzing"
    # The whole path still works after all of it: an order through HTTP is confirmed.
    status, body, _ = lab.place("pizza", 1, "s-after-fuzz")
    assert status == 202
    wait_for(lambda: lab.order(body["order_id"])[1]["status"] == "confirmed", 30, what="an order after the fuzz")
    lab.reset_stock(dict(INITIAL_STOCK))


@hsettings(max_examples=EXAMPLES, deadline=None,
           suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(cases=batches(template, Settings().max_message_bytes, header_values, targets=len(TARGETS)))
def test_consumers_survive_any_message_and_process_every_good_order_once(fuzz, cases):
    lab, broker, pids = fuzz
    stock = lab.stock()
    sent = realize(cases, template, NUMBERS)
    ids = [f"fuzz-{RUN:x}-{next(NUMBERS)}" for _ in cases]
    for case, (body, _), mid in zip(cases, sent, ids, strict=True):
        queue = TARGETS[case.target][0] if case.kind == "bad" else topology.INVENTORY_ORDERS
        broker.publish(queue, body, dict(case.headers), mid)

    goods = {ev["event_id"]: ev for c, (_, ev) in zip(cases, sent, strict=True) if c.kind == "good"}
    deliveries = Counter(ev["event_id"] for c, (_, ev) in zip(cases, sent, strict=True) if c.kind != "bad")
    bad = {mid: (c, TARGETS[c.target][1]) for c, mid in zip(cases, ids, strict=True) if c.kind == "bad"}

    def done():
        broker.drain()
        return all(len(broker.results[e]) >= n for e, n in deliveries.items()) and set(bad) <= set(broker.dead)

    try:
        wait_for(done, 60, interval=0.05, what="every good order's result and every bad message dead-lettered")
    except TimeoutError:
        missing = [c.why for mid, (c, _) in bad.items() if mid not in broker.dead]
        pending = [e for e, n in deliveries.items() if len(broker.results[e]) < n]
        pytest.fail(f"not dead-lettered: {missing}; without a result: {len(pending)} of {len(deliveries)}")

    for e, order in goods.items():
        results = broker.results.pop(e)
        assert len({r["event_id"] for r in results}) == 1, "reserved more than once (two result events)"
        r = results[0]
        assert (r["event_type"], r["order_id"], r["item"], r["quantity"]) == (
            "InventoryReserved", order["order_id"], order["item"], order["quantity"])
        assert all(x == r for x in results), "a duplicate re-published another result than the first"
    assert not {k: v for k, v in broker.results.items() if v}, "a result for something that was not a good order"
    for mid, (case, dlq) in bad.items():
        queue, headers = broker.dead.pop(mid)
        assert queue == dlq and headers.get(REASON_HEADER), f"{case.why}: dead-lettered without a reason"
    assert not broker.dead, "a good order was dead-lettered"

    used = Counter()
    for order in goods.values():
        used[order["item"]] += order["quantity"]
    assert lab.stock() == {item: stock[item] - used[item] for item in stock}
