"""Every HTTP endpoint of Part B (order-service, inventory-service, notification-service) fuzzed with hypothesis:
hostile bodies (deep nesting, huge numbers, odd unicode, oversized) and content types from `labkit.fuzz_http`
never produce a 5xx, and every error is JSON with `error` and `detail`. Endpoints come from the URL maps."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from async_rabbitmq.inventory_service.app import create_app as inventory_app
from async_rabbitmq.lab.testing import NoRelay
from async_rabbitmq.notification_service.app import create_app as notification_app
from async_rabbitmq.notification_service.store import NotificationStore
from async_rabbitmq.order_service.app import create_app as order_app
from async_rabbitmq.order_service.store import OrderStore
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

pytestmark = pytest.mark.service


@pytest.fixture(scope="module")
def clients(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz")
    s = Settings(data_dir=d, log_level="ERROR", log_format="text")
    return [order_app(s, OrderStore(d / "orders.db"), NoRelay()).test_client(),
            inventory_app(s, StockStore(d / "inv.db")).test_client(),
            notification_app(s, NotificationStore(d / "n.db")).test_client()]


def test_every_endpoint_answers_the_deep_body_with_a_4xx_json_error(clients):
    """Issue 10, defect 1: 60 KB of `[[[[...]]]]` raised RecursionError in the JSON decoder (a 500)."""
    for c in clients:
        check_deep_body(c)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
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
