"""Hypothesis fuzzing of every HTTP endpoint of Part C (producer, inventory consumer, analytics): malformed
input is always a 4xx JSON error. Hostile bodies and content types come from `labkit.fuzz_http`."""
import json
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.settings import Settings
from common.stock import StockStore
from labkit.fuzz_http import (
    check_answer,
    check_any_method_and_query,
    check_deep_body,
    check_every_query_value,
    content_types,
    every_endpoint,
    hostile_bodies,
    methods,
    query_strings,
)
from streaming_kafka.analytics_consumer.app import create_app as analytics_app
from streaming_kafka.analytics_consumer.metrics import MetricsState, render
from streaming_kafka.inventory_consumer.app import create_app as inventory_app
from streaming_kafka.producer_order.app import build_desk, create_app
from streaming_kafka.producer_order.publisher import OrderPublisher

pytestmark = pytest.mark.service

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=10,
)
order_like = st.fixed_dictionaries({}, optional={
    "student_id": json_values | st.text(max_size=80), "item": json_values | st.sampled_from(["pizza", "Pizza", "soda"]),
    "quantity": json_values | st.integers(-5, 200)})
bulk_like = st.fixed_dictionaries({}, optional={
    "count": json_values | st.integers(-5, 3000), "fail_rate": json_values | st.floats(-1, 2),
    "seed": json_values, "student_id": json_values})
bodies = st.one_of(json_values.map(json.dumps), st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
                   st.text(max_size=100), hostile_bodies)


class NullProducer:
    def send(self, *a, **kw):
        return self

    def get(self, timeout=None):
        return None

    def flush(self, timeout=None):
        pass

    def close(self, timeout=None):
        pass


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    s = Settings(data_dir=tmp_path_factory.mktemp("fuzz"), log_level="ERROR", bulk_max=2000)
    publisher = OrderPublisher(s, factory=lambda bulk: NullProducer())
    return create_app(s, publisher, build_desk(s, publisher)).test_client()


def check(resp, ok_status):
    check_answer(resp)
    assert resp.status_code == ok_status or 400 <= resp.status_code < 500


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(st.one_of(order_like.map(json.dumps), bodies))
def test_order_never_5xx(client, body):
    check(client.post("/order", data=body, content_type="application/json"), 202)


@FUZZ
@given(st.one_of(bulk_like.map(json.dumps), bodies))
def test_bulk_never_5xx(client, body):
    check(client.post("/bulk", data=body, content_type="application/json"), 200)


def test_oversized_body_is_413(client):
    r = client.post("/order", data="x" * (65 * 1024), content_type="application/json")
    assert r.status_code == 413 and r.get_json()["error"]


class JoinedWorker:
    """What the analytics app reads from its worker: a state, a lock, `joined` (set: /health is 200)."""

    def __init__(self):
        self.state, self.lock, self.joined = MetricsState(), threading.Lock(), threading.Event()
        self.joined.set()
        self.path = Path("/nonexistent/metrics_output.json")

    def snapshot(self):
        return render(self.state.metrics())


@pytest.fixture(scope="module")
def clients(client, tmp_path_factory):
    s = Settings(data_dir=tmp_path_factory.mktemp("fuzz-consumers"), log_level="ERROR")
    return [client, inventory_app(s, StockStore(s.data_path("inv.db"))).test_client(),
            analytics_app(s, JoinedWorker()).test_client()]


def test_every_endpoint_answers_the_deep_body_with_a_4xx_json_error(clients):
    """Issue 10, defect 1: 60 KB of `[[[[...]]]]` raised RecursionError in the JSON decoder."""
    for c in clients:
        check_deep_body(c)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data(), body=hostile_bodies, ctype=content_types)
def test_fuzz_every_endpoint_with_hostile_bodies(clients, data, body, ctype):
    for c in clients:
        method, path = data.draw(st.sampled_from(every_endpoint(c.application)))
        check_answer(c.open(path, method=method, data=body, content_type=ctype))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), method=methods, query=query_strings)
def test_fuzz_every_endpoint_with_any_method_and_query_string(clients, data, method, query):
    """Query strings and methods (HEAD and OPTIONS too) from `labkit.fuzz_http`: never a 5xx; errors are JSON."""
    check_any_method_and_query(clients, data, method, query)


def test_every_endpoint_answers_every_hostile_query_value(clients):
    """Every hostile query value, not a sample: `GET /orders?limit=²` was a 500 ("²".isdigit() is True, int("²") raises)."""
    for client in clients:
        check_every_query_value(client)
