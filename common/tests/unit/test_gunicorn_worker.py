"""When the hardened gthread worker lets a request reach a thread: only once it has fully arrived, or never."""
import select
import socket
import time
from collections import deque
from types import SimpleNamespace

import pytest
from gunicorn.workers.gthread import _DEFER

from common.gunicorn_worker import EXPIRED, PEEK_MAX, READY, STOP_KEEPALIVE_LINGER_S, WAIT, DeadlineThreadWorker, request_state

pytestmark = pytest.mark.unit

HEAD = b"POST /order HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"


@pytest.mark.parametrize("data, eof, age, state", [
    (b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", False, 0, READY),
    (b"GET /health HTTP/1.1\r\nHo", False, 1, WAIT),  # head still arriving
    (b"GET /health HTTP/1.1\r\nHo", False, 11, EXPIRED),  # ... for longer than the limit
    (HEAD + b"Content-Length: 5\r\n\r\n{\"a\"", False, 1, WAIT),  # body still arriving
    (HEAD + b"Content-Length: 5\r\n\r\n{\"a\"", False, 11, EXPIRED),
    (HEAD + b"content-length:5\r\n\r\n{\"a\":", False, 0, READY),
    (b"POST /o HTTP/1.1\r\nContent-Length: 5\r\nHost: x\r\n\r\n{", False, 1, WAIT),  # not the last header
    (b"POST /o HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", False, 0, READY),  # gunicorn: 400
    (HEAD + b"Transfer-Encoding: chunked\r\n\r\n", False, 0, READY),  # length unknown: read by the thread
    (HEAD + b"Content-Length: 5\r\nExpect: 100-continue\r\n\r\n", False, 0, READY),  # waits for our 100
    (b"GET /he", True, 0, READY),  # the client closed: gunicorn answers nothing and closes
    (b"GET /" + b"a" * PEEK_MAX, False, 0, READY),  # a flood: gunicorn's limits refuse it at once
    (HEAD + b"Content-Length: 65537\r\n\r\n{", False, 0, READY),  # over the limit: refused (413) unread
    (HEAD + b"Content-Length: 65536\r\n\r\n{", False, 1, WAIT),  # at the limit: waited for
    (HEAD + b"Content-Length: 1048576\r\n\r\n" + b"x" * 100_000, False, 0, READY),  # cannot all be buffered
])
def test_request_state(data, eof, age, state):
    assert request_state(data, eof, age, 10.0, 65536) == state


def _worker_and_conn():
    """The worker's request gate on one end of a socket pair (no gunicorn process): (worker, conn, client)."""
    from gunicorn.config import Config
    from gunicorn.workers.gthread import TConn

    from common.gunicorn_worker import DeadlineThreadWorker

    worker = DeadlineThreadWorker.__new__(DeadlineThreadWorker)  # its settings only; no arbiter, no loop
    worker.request_timeout_s, worker.max_body = 10.0, 65536
    server, client = socket.socketpair()
    conn = TConn(Config(), server, ("127.0.0.1", 1), ("127.0.0.1", 2))
    return worker, conn, client


def test_a_waiting_request_leaves_the_socket_quiet_so_the_poller_does_not_spin():
    """Waiting for the rest of a request must take what has arrived off the socket: bytes left on it (a peek)
    keep it readable, and gunicorn's poller hands the connection straight back to a thread, again and again,
    a busy loop for as long as a slow client dawdles (measured: 75-85% of a core for one such client)."""
    worker, conn, client = _worker_and_conn()
    with client, conn.sock:
        client.sendall(b"GET /health HTTP/1.1\r\nHo")
        assert worker.handle(conn) is _DEFER
        assert select.select([conn.sock], [], [], 0)[0] == []  # nothing for the poller to wake up for
        client.sendall(b"st: x\r\n\r\n")
        assert select.select([conn.sock], [], [], 0)[0] != []  # until the client sends more


def test_what_was_taken_while_waiting_reaches_gunicorns_parser():
    worker, conn, client = _worker_and_conn()
    with client, conn.sock:
        client.sendall(b'POST /echo HTTP/1.1\r\nContent-Length: 7\r\nHost: x\r\n\r\n{"a"')
        assert worker.handle(conn) is _DEFER
        client.sendall(b":1}")
        assert worker._peek(conn) == READY
        worker._hand_over(conn)
        req = next(conn.parser)
        assert (req.method, req.path, req.body.read()) == ("POST", "/echo", b'{"a":1}')


def test_a_stopping_worker_keeps_idle_kept_alive_connections_briefly_not_gthreads_two_seconds():
    """Every service holds kept-alive connections (the dashboard's session, the other services'): with gthread's
    own 2 s, every stop and restart of a service waited them out."""
    worker = object.__new__(DeadlineThreadWorker)  # the cap reads only the connections
    now = time.monotonic()
    soon, later = SimpleNamespace(timeout=now + STOP_KEEPALIVE_LINGER_S / 10), SimpleNamespace(timeout=now + 30)
    worker.keepalived_conns = deque([soon, later])
    worker._cap_keepalive(now + 2.0)  # what gthread's run() asks for on stop
    assert soon.timeout == now + STOP_KEEPALIVE_LINGER_S / 10  # an earlier expiry stays
    assert later.timeout <= time.monotonic() + STOP_KEEPALIVE_LINGER_S < now + 2.0
