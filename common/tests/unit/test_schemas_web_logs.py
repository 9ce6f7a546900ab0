import json
import logging

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from common.logs import JsonFormatter, bind
from common.schemas import DEFAULT_STUDENT_ID, InvalidInput, parse_order
from common.settings import Settings
from common.web import create_base_app

pytestmark = pytest.mark.unit

GOOD = {"student_id": "s1", "item": "pizza", "quantity": 2}


def test_valid_order():
    o = parse_order(GOOD)
    assert (o.student_id, o.item, o.quantity) == ("s1", "pizza", 2)


@pytest.mark.parametrize("body, expected", [
    ({"item": "fries", "qty": 3}, ("anonymous", "fries", 3)),  # the original lab's client
    ({"student_id": "s9", "item": "soda", "qty": 2}, ("s9", "soda", 2)),
    ({"student_id": "s9", "item": "soda", "quantity": 4, "qty": 4}, ("s9", "soda", 4)),  # both, agreeing
])
def test_the_original_labs_bodies_are_accepted(body, expected):
    o = parse_order(body)
    assert (o.student_id, o.item, o.quantity) == expected
    assert DEFAULT_STUDENT_ID == "anonymous"


@pytest.mark.parametrize("body, code", [
    ({**GOOD, "item": "Pizza"}, "unknown_item"),
    ({**GOOD, "item": "sushi"}, "unknown_item"),
    ({**GOOD, "quantity": "2"}, "validation_error"),
    ({**GOOD, "quantity": True}, "validation_error"),
    ({**GOOD, "quantity": 2.5}, "validation_error"),
    ({**GOOD, "quantity": 0}, "validation_error"),
    ({**GOOD, "quantity": 101}, "validation_error"),
    ({**GOOD, "student_id": ""}, "validation_error"),
    ({**GOOD, "student_id": "x" * 65}, "validation_error"),
    ({"student_id": "s1", "quantity": 1}, "validation_error"),
    ({"student_id": "s1", "item": "pizza", "quantity": 2, "qty": 3}, "validation_error"),
    ({**GOOD, "qty": 0}, "validation_error"),
    ([GOOD], "invalid_body"),
    ("pizza", "invalid_body"),
    (None, "invalid_body"),
])
def test_invalid_orders(body, code):
    with pytest.raises(InvalidInput) as err:
        parse_order(body)
    assert err.value.code == code and err.value.detail


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=12), c, max_size=5),
                           max_leaves=12)


@hsettings(max_examples=300, deadline=None)
@given(st.one_of(json_values, st.fixed_dictionaries({"student_id": json_values, "item": json_values,
                                                     "quantity": json_values})))
def test_parse_order_only_ever_raises_invalid_input(data):
    try:
        parse_order(data)
    except InvalidInput as err:
        assert err.code in ("invalid_body", "unknown_item", "validation_error")


@pytest.fixture
def client():
    app = create_base_app("t", Settings(max_body_bytes=1024))

    @app.post("/boom")
    def boom():
        raise RuntimeError("kaput")
    return app.test_client()


def test_base_app_errors_are_json(client):
    r = client.get("/nope")
    assert r.status_code == 404 and r.get_json()["error"] == "not_found"
    r = client.get("/boom")
    assert r.status_code == 405 and r.get_json()["error"] == "method_not_allowed"
    r = client.post("/boom", data="x" * 2048)
    assert r.status_code == 413 and "error" in r.get_json()
    r = client.post("/boom", json={})
    assert r.status_code == 500 and r.get_json()["error"] == "internal_error"
    assert client.get("/health").get_json()["status"] == "ok"


def test_json_logs_carry_bound_ids():
    fmt = JsonFormatter("svc")
    with bind(order_id="ORD-1", event_id=None):
        rec = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("w",), None)
        rec.item = "pizza"
        doc = json.loads(fmt.format(rec))
    assert doc["order_id"] == "ORD-1" and "event_id" not in doc and doc["msg"] == "hello w"
    assert doc["service"] == "svc" and doc["item"] == "pizza"
    rec = logging.LogRecord("x", logging.INFO, __file__, 1, "after", (), None)
    assert "order_id" not in json.loads(fmt.format(rec))
