"""The relay of the three-bare-hops baseline (Part A's benchmark): it posts the body to each downstream echo in
turn and answers with it; a downstream that is down or fails is a 502 JSON error, never a 201."""
import threading

import pytest
from werkzeug.serving import make_server

from labkit.echo_app import create_app, relay_app

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def echo_urls():
    servers = [make_server("127.0.0.1", 0, create_app(), threaded=True) for _ in range(2)]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for t in threads:
        t.start()
    yield [f"http://127.0.0.1:{s.server_port}" for s in servers]
    for s in servers:
        s.shutdown()


def test_the_relay_passes_the_body_through_both_echoes(echo_urls):
    relay = relay_app(",".join(echo_urls)).test_client()
    r = relay.post("/relay", json={"item": "pizza", "quantity": 2})
    assert (r.status_code, r.get_json()) == (201, {"item": "pizza", "quantity": 2})


def test_a_downstream_that_is_down_is_a_502(echo_urls):
    relay = relay_app(f"{echo_urls[0]},http://127.0.0.1:1").test_client()
    r = relay.post("/relay", json={})
    assert r.status_code == 502 and r.get_json()["error"] == "downstream_unavailable"


def test_a_downstream_that_fails_is_a_502(echo_urls):
    relay = relay_app(echo_urls[0] + "/nowhere").test_client()
    r = relay.post("/relay", json={})
    assert r.status_code == 502 and r.get_json()["error"] == "downstream_failed"
