"""Every HTTP endpoint of Part A fuzzed with hypothesis: arbitrary bodies, content types, headers and
methods never produce a 5xx or a crash, and every error is JSON with `error` and `detail`.

The hostile bodies (deep nesting, huge numbers, odd unicode, oversized) come from `labkit.fuzz_http`, shared by
the three parts; the endpoint list comes from each app's URL map, so a new endpoint is fuzzed too."""
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit.fuzz_http import (
    DEEP_BODY,
    check_answer,
    check_any_method_and_query,
    check_every_query_value,
    every_endpoint,
    hostile_bodies,
    methods,
    query_strings,
)
from labkit.fuzz_http import content_types as hostile_types

pytestmark = pytest.mark.service

scalars = st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False) | st.text(max_size=80)
json_like = st.recursive(scalars, lambda c: st.lists(c, max_size=5) | st.dictionaries(st.text(max_size=15), c, max_size=6),
                         max_leaves=15)
fields = {"student_id": json_like | st.text(max_size=70), "item": json_like | st.sampled_from(
    ["pizza", "burger", "salad", "soda", "coffee", "PIZZA", "", "pizza "]), "quantity": json_like | st.integers(-5, 150),
    "order_id": json_like | st.text(max_size=140), "message": json_like | st.text(max_size=50),
    "stock": json_like | st.dictionaries(st.sampled_from(["pizza", "soda", "x"]), st.integers(-3, 300))}
body_dicts = st.fixed_dictionaries({}, optional=fields)
bodies = st.one_of(
    body_dicts.map(lambda d: json.dumps(d).encode()),
    json_like.map(lambda d: json.dumps(d).encode()),
    st.binary(max_size=300),
    st.text(max_size=200).map(str.encode),
    hostile_bodies,
)
content_types = st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded", ""]) | hostile_types
keys = st.none() | st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=300)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


check = check_answer


@FUZZ
@given(body=bodies, ctype=content_types, key=keys)
def test_fuzz_order(order, body, ctype, key):
    headers = {"Idempotency-Key": key} if key is not None else {}
    check(order.post("/order", data=body, content_type=ctype, headers=headers))


@FUZZ
@given(body=bodies, ctype=content_types)
def test_fuzz_reserve(inventory, body, ctype):
    check(inventory.post("/reserve", data=body, content_type=ctype))


@FUZZ
@given(body=bodies, ctype=content_types)
def test_fuzz_admin_reset(inventory, body, ctype):
    check(inventory.post("/admin/reset", data=body, content_type=ctype))


@FUZZ
@given(body=bodies, ctype=content_types)
def test_fuzz_send(notification, body, ctype):
    check(notification.post("/send", data=body, content_type=ctype))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
       path=st.sampled_from(["/order", "/reserve", "/stock", "/send", "/health", "/admin/reset", "/nope", "/order/x"]),
       body=bodies)
def test_fuzz_methods_and_paths(order, inventory, notification, method, path, body):
    for client in (order, inventory, notification):
        check(client.open(path, method=method, data=body, content_type="application/json"))


def _apps(order, inventory, notification):
    return [(c, every_endpoint(c.application)) for c in (order, inventory, notification)]


def test_every_endpoint_answers_the_deep_body_with_a_4xx_json_error(order, inventory, notification):
    """Issue 10, defect 1: 60 KB of `[[[[...]]]]` made POST /order answer 500 (RecursionError)."""
    for client, endpoints in _apps(order, inventory, notification):
        for method, path in endpoints:
            resp = client.open(path, method=method, data=DEEP_BODY, content_type="application/json")
            check(resp)
            if method == "POST":
                assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_json", (path, resp.data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data(), body=hostile_bodies, ctype=hostile_types)
def test_fuzz_every_endpoint_with_hostile_bodies(order, inventory, notification, data, body, ctype):
    for client, endpoints in _apps(order, inventory, notification):
        method, path = data.draw(st.sampled_from(endpoints))
        check(client.open(path, method=method, data=body, content_type=ctype))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), method=methods, query=query_strings)
def test_fuzz_every_endpoint_with_any_method_and_query_string(order, inventory, notification, data, method, query):
    """Query strings and methods (HEAD and OPTIONS too) from `labkit.fuzz_http`: never a 5xx; errors are JSON."""
    check_any_method_and_query((order, inventory, notification), data, method, query)


def test_every_endpoint_answers_every_hostile_query_value(order, inventory, notification):
    """Every hostile query value, not a sample: `GET /orders?limit=²` was a 500 ("²".isdigit() is True, int("²") raises)."""
    for client in (order, inventory, notification):
        check_every_query_value(client)
