"""Malformed HTTP gets the contract's JSON error from both HTTP servers the services run on: gunicorn with the
hardened worker (common/gunicorn_worker.py) and the consumers' waitress server (common/http_server.py). A body
over MAX_BODY_BYTES, sent whole by a real client, gets a 413 the client can read; a request the server itself
refuses (bad request line, header, length, chunk) gets a JSON 4xx, not an HTML page or a 500. Each server
serves a probe app built like every service's."""
import json
import socket
import subprocess
import sys
import textwrap

import pytest
import requests

from common.http_server import HttpServer
from common.settings import ROOT, Settings
from common.web import create_base_app, json_body
from labkit import oversized
from labkit.benchkit import wait_healthy

pytestmark = pytest.mark.integration

PROBE_APP = textwrap.dedent("""
    from common.settings import get_settings
    from common.web import create_base_app, json_body

    def create_app():
        app = create_base_app("probe", get_settings())
        app.post("/echo")(lambda: json_body())
        return app
""")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def gunicorn_port(tmp_path_factory):
    """The probe app under gunicorn with the services' settings (common/gunicorn_conf.py), one worker, 4 threads."""
    d = tmp_path_factory.mktemp("probe")
    (d / "oversized_probe.py").write_text(PROBE_APP)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "python:common.gunicorn_conf", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--threads", "4", "--pythonpath", str(d), "oversized_probe:create_app()"],
        cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", 30)
        yield port
    finally:
        proc.terminate()
        proc.wait(15)


@pytest.fixture(scope="module")
def waitress_port(tmp_path_factory):
    s = Settings(data_dir=tmp_path_factory.mktemp("waitress"), log_level="ERROR")
    app = create_base_app("probe", s)
    app.post("/echo")(lambda: json_body())
    srv = HttpServer(app, "127.0.0.1", 0, s).start()
    yield srv.port
    srv.shutdown()


@pytest.fixture(params=["gunicorn", "waitress"])
def port(request):
    return request.getfixturevalue(f"{request.param}_port")


@pytest.mark.parametrize("size", [100_000, 300_000, oversized.SIZE, 8 * oversized.SIZE])
def test_requests_reads_a_413_json_error(port, size):
    assert oversized.with_requests(port, "/echo", size) == []


@pytest.mark.parametrize("size", [100_000, oversized.SIZE, 8 * oversized.SIZE])
def test_a_raw_client_sends_the_whole_body_and_reads_a_413_json_error_then_a_clean_close(port, size):
    for _ in range(5):  # a reset is a race: several tries make a lucky pass unlikely
        assert oversized.with_raw_socket(port, "/echo", size) == []


def test_the_server_still_answers_afterwards(port):
    assert oversized.problems(port, "/echo") == []
    r = requests.post(f"http://127.0.0.1:{port}/echo", json={"a": 1}, timeout=5)
    assert (r.status_code, r.json()) == (200, {"a": 1})


MALFORMED = {  # what a broken or hostile client sends, byte for byte
    "bad request line": b"BLAH\r\n\r\n",
    "bad method": b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n",
    "URI too long": b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "header too large": b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 70_000 + b"\r\n\r\n",
    "bad header name": b"GET /health HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n",
    "NUL in a header": b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    "bad Content-Length": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    "negative Content-Length": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "two Content-Lengths": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    "bad chunk size": b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n",
    "unknown transfer coding": b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
}


@pytest.mark.parametrize("request_bytes", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_http_gets_a_json_4xx(port, request_bytes):
    with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
        s.sendall(request_bytes)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head[9:12])
    # 501: a transfer coding the server does not implement (RFC 9112 6.1); every other refusal is the client's.
    assert 400 <= status < 500 or status == 501, head
    assert b"content-type: application/json" in head.lower(), head
    doc = json.loads(body)
    assert isinstance(doc["error"], str) and isinstance(doc["detail"], str), doc


def test_a_body_of_exactly_the_limit_is_accepted_and_one_byte_more_is_not(port):
    """MAX_BODY_BYTES is the largest body allowed, the same on both servers (waitress refused it: its limit is
    exclusive)."""
    limit = Settings().max_body_bytes
    pad = b'{"a":"' + b"x" * (limit - 8) + b'"}'
    assert len(pad) == limit
    r = requests.post(f"http://127.0.0.1:{port}/echo", data=pad, headers={"Content-Type": "application/json"},
                      timeout=10)
    assert r.status_code == 200 and len(r.json()["a"]) == limit - 8
    assert oversized.with_requests(port, "/echo", limit + 1) == []
