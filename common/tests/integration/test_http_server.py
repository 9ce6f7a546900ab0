"""The in-process HTTP server of the consumer processes (common/http_server.py) on loopback sockets: it
answers, its own errors are the contract's JSON, slow clients hold no thread and do not starve it, a stalled
connection is closed after HTTP_CHANNEL_TIMEOUT_S, and shutdown closes every socket."""
import json
import socket
import threading
import time

import pytest
import requests

from common.http_server import HttpServer
from common.settings import Settings
from common.web import create_base_app, json_body

pytestmark = pytest.mark.integration


@pytest.fixture
def server(tmp_path):
    s = Settings(data_dir=tmp_path, http_threads=4, http_channel_timeout_s=2, log_level="ERROR")
    app = create_base_app("probe", s)
    app.post("/echo")(lambda: json_body())
    srv = HttpServer(app, "127.0.0.1", 0, s)
    srv.start()
    yield srv
    srv.shutdown()


def raw(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


def wait_until(check, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_serves_and_keeps_the_connection_alive(server):
    with requests.Session() as session:
        for _ in range(3):
            r = session.post(f"http://127.0.0.1:{server.port}/echo", json={"a": 1}, timeout=5)
            assert r.status_code == 200 and r.json() == {"a": 1}


@pytest.mark.parametrize("request_bytes, status", [
    (b"BLAH\r\n\r\n", 400),
    (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{}", 413),
    (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
])
def test_the_servers_own_errors_are_json(server, request_bytes, status):
    head, _, body = raw(server.port, request_bytes).partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == str(status).encode() and b"application/json" in head
    doc = json.loads(body)
    assert isinstance(doc["error"], str) and isinstance(doc["detail"], str)


def test_slow_clients_hold_no_thread_and_a_normal_request_still_answers(server):
    before = threading.active_count()
    slow = []
    try:
        for i in range(150):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{" if i % 2 else b"GET /he")
            slow.append(s)
        r = requests.get(f"http://127.0.0.1:{server.port}/health", timeout=5)
        assert r.status_code == 200
        assert threading.active_count() <= before + 4  # at most the pool, not one per connection
    finally:
        for s in slow:
            s.close()


def test_a_stalled_connection_is_closed_after_the_channel_timeout(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHo")  # and nothing more
        assert s.recv(1024) == b""  # the server hung up (HTTP_CHANNEL_TIMEOUT_S=2, swept every second)


def test_shutdown_closes_every_socket_and_ends_the_thread(tmp_path):
    s = Settings(data_dir=tmp_path, log_level="ERROR")
    srv = HttpServer(create_base_app("probe", s), "127.0.0.1", 0, s).start()
    port = srv.port
    hanging = socket.create_connection(("127.0.0.1", port), timeout=5)
    hanging.sendall(b"GET /hea")
    assert requests.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
    srv.shutdown()
    assert not srv._thread.is_alive()
    assert hanging.recv(1024) == b""
    hanging.close()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
