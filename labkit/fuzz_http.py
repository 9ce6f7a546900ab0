"""Hypothesis strategies and checks every part's endpoint fuzzing shares: hostile bodies and content types
nobody writes by hand (deep nesting, huge numbers, odd unicode, oversized), and the contract's error shape.

`every_endpoint(app)` reads the app's URL map, so an endpoint added later is fuzzed without touching a test.
"""
from __future__ import annotations

import json
from urllib.parse import quote

from hypothesis import strategies as st
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from common.vocabulary import OrderStatus

EXPOSITION_PARSERS = {"text/plain": parse_text, "application/openmetrics-text": parse_openmetrics}

MAX_BODY = 64 * 1024  # Settings.max_body_bytes default
# A hostile body: about 60 KB of [[[[...]]]] (under the 64 KiB limit, so it reaches the parser).
DEEP_BODY = b"[" * 30_000 + b"]" * 30_000


def _nest(depth: int, kind: str) -> bytes:
    if kind == "list":
        return b"[" * depth + b"]" * depth
    if kind == "dict":
        return b'{"a":' * depth + b"1" + b"}" * depth
    return b'{"item":' + b"[" * depth + b"]" * depth + b',"quantity":1}'


deep_nesting = st.builds(_nest, st.integers(100, 32_000), st.sampled_from(["list", "dict", "inside"]))
huge_numbers = st.one_of(
    st.integers(20, 6_000).map(lambda n: b'{"quantity": ' + b"9" * n + b', "count": 1}'),
    st.integers(20, 6_000).map(lambda n: b'{"count": -' + b"9" * n + b"}"),
    st.sampled_from([b'{"quantity": 1e400}', b'{"count": -1e309}', b'{"fail_rate": 1e-400}', b"NaN",
                     b'{"quantity": Infinity}', b'{"quantity": -0.0}', b'{"quantity": 1.0}',
                     b'{"quantity": 18446744073709551616}', b'{"count": 9223372036854775808}']),
)
odd_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
odd_unicode = st.one_of(
    # any code point, written raw (UTF-8) or escaped, in the fields the endpoints read
    st.builds(lambda s, ascii_: json.dumps({"student_id": s, "item": s, "quantity": 1, "order_id": s,
                                            "message": s}, ensure_ascii=ascii_).encode("utf-8", "surrogatepass"),
              odd_text, st.booleans()),
    st.sampled_from([b'{"item": "\\ud800", "quantity": 1}', b'{"student_id": "\\udfff\\ud800"}',
                     b"\xef\xbb\xbf{}", b"\xff\xfe{\x00}\x00", b'{"item": "pi\\u0000zza"}', b'"\xc3\x28"',
                     '{"item": "ｐｉｚｚａ", "quantity": 1}'.encode(), b'{"\xed\xa0\x80": 1}']),
)
oversized = st.one_of(
    st.integers(MAX_BODY + 1, MAX_BODY * 3).map(lambda n: b'{"student_id": "' + b"a" * n + b'"}'),
    st.integers(MAX_BODY // 2 + 1, MAX_BODY * 2).map(lambda n: b"[" * n + b"]" * n),
)
hostile_bodies = st.one_of(deep_nesting, huge_numbers, odd_unicode, oversized, st.just(DEEP_BODY),
                           st.binary(max_size=300), st.just(b""), st.just(b"   "), st.just(b"null"))
content_types = st.sampled_from([
    "application/json", "application/json; charset=latin-1", "text/plain", "", "application/xml",
    "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "multipart/form-data",
    "application/octet-stream", "application/json; charset=utf-16", "*/*; q=0",
])


def every_endpoint(app, sample: str = "x") -> list[tuple[str, str]]:
    """(method, path) for every rule of a Flask app, path variables filled with `sample`."""
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = rule.rule
        for arg in rule.arguments:
            path = path.replace(f"<{arg}>", sample)
            for conv in ("path", "string", "int"):
                path = path.replace(f"<{conv}:{arg}>", sample)
        out += [(m, path) for m in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return out


def check_answer(resp, parse_metrics: bool = True) -> None:
    """The contract for any input: never a 5xx; a JSON object; an error is `{"error": str, "detail": str}`.
    GET /metrics answers Prometheus's text instead, parsed unless `parse_metrics` is off (it grows with every
    request the fuzzing makes: parsing each of hundreds of answers costs seconds, and says nothing new)."""
    assert resp.status_code < 500, (resp.status_code, resp.get_data()[:300])
    if resp.status_code == 200 and resp.mimetype in EXPOSITION_PARSERS:
        if parse_metrics:
            parse = EXPOSITION_PARSERS[resp.mimetype]
            assert list(parse(resp.get_data(as_text=True))), resp.get_data()[:200]
        return
    body = resp.get_json(silent=True)
    assert isinstance(body, (dict, list)), (resp.status_code, resp.get_data()[:200])
    if resp.status_code >= 400:
        assert isinstance(body, dict), body
        if body.get("status") != OrderStatus.FAILED:  # Part A's order outcomes (409/422/...) carry status/reason instead
            assert isinstance(body.get("error"), str) and isinstance(body.get("detail"), str), body


def check_deep_body(client) -> None:
    """Issue 10, defect 1: 60 KB of `[[[[...]]]]` raised RecursionError in the JSON decoder (a 500). Every
    endpoint of the Flask test `client`'s app answers it by the contract, and every POST with invalid_json."""
    for method, path in every_endpoint(client.application):
        resp = client.open(path, method=method, data=DEEP_BODY, content_type="application/json")
        check_answer(resp)
        if method == "POST":
            assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_json", (path, resp.data)


# Query strings nobody writes by hand: unicode digits ("²".isdigit() is True, int("²") raises), huge and signed
# numbers, broken percent-escapes, repeated and empty keys, NUL, very long values; every method, HEAD and
# OPTIONS included.
QUERY_KEYS = ["limit", "status", "before", "after", "count", "x", ""]
QUERY_VALUES = ["", "0", "-1", "+5", "5 ", "1e3", "99999999999999999999999", "²", "٣", "𝟓", "%", "%ZZ", "%ff", "%00",
                "%E2%82", "null", "[]", "{}", "pending", "confirmed", "failed", "ORD-0-none", "a" * 3000]
query_strings = st.lists(st.tuples(st.sampled_from(QUERY_KEYS), st.one_of(
    st.sampled_from(QUERY_VALUES), st.text(max_size=30).map(lambda s: quote(s, safe="")))), max_size=4).map(
    lambda kv: "&".join(f"{k}={v}" for k, v in kv))
methods = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "PROPFIND"])


def check_any_method(resp, method: str) -> None:
    """`check_answer`, allowing for the methods whose answers carry no JSON: HEAD has no body (its error still
    says JSON in its Content-Type), and a successful OPTIONS is an empty `Allow` answer."""
    if method == "HEAD":
        assert resp.status_code < 500 and not resp.get_data(), (resp.status_code, resp.get_data()[:100])
        if resp.status_code >= 400:
            assert resp.mimetype == "application/json", resp.headers
    elif method == "OPTIONS" and resp.status_code < 300:
        assert "Allow" in resp.headers, resp.headers
    else:
        check_answer(resp)


def check_any_method_and_query(clients, data, method: str, query: str) -> None:
    """For each Flask test client: an endpoint drawn from its app, asked with `method` and `query` (hypothesis's
    `data`, `methods`, `query_strings`): never a 5xx, and its errors are JSON (`check_any_method`)."""
    for client in clients:
        _, path = data.draw(st.sampled_from(every_endpoint(client.application)))
        resp = client.open(f"{path}?{query}", method=method, data=b"{}", content_type="application/json")
        check_any_method(resp, method)


def check_every_query_value(client) -> None:
    """Each of QUERY_VALUES under each of QUERY_KEYS, on every endpoint of the Flask test `client`'s app, with
    the endpoint's own method: all of them, not a random sample (one bad value for one key was a 500)."""
    for method, path in every_endpoint(client.application):
        for i, (key, value) in enumerate((k, v) for k in QUERY_KEYS for v in QUERY_VALUES):
            resp = client.open(f"{path}?{key}={value}", method=method, data=b"{}", content_type="application/json")
            check_answer(resp, parse_metrics=i % 25 == 0)  # a scrape parsed now and then, every answer checked
