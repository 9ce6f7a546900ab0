"""Hypothesis fuzzing of `POST /order` and `POST /bulk`: malformed input is always a 4xx JSON error."""
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from producer_order.app import create_app
from producer_order.publisher import OrderPublisher

from common.settings import Settings

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
                   st.text(max_size=100))


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
    return create_app(s, OrderPublisher(s, factory=lambda bulk: NullProducer())).test_client()


def check(resp, ok_status):
    assert resp.status_code < 500, resp.get_data(as_text=True)
    assert resp.status_code == ok_status or 400 <= resp.status_code < 500
    body = resp.get_json()
    assert isinstance(body, dict)
    if resp.status_code >= 400:
        assert isinstance(body["error"], str) and isinstance(body["detail"], str)


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
