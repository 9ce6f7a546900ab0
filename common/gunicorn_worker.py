"""gunicorn's gthread worker, hardened against slow clients (the `worker_class` in common/gunicorn_conf.py).

gthread hands a connection to a pool thread as soon as it is readable, and that thread then reads the
request from a blocking socket with no time limit. A client that sends its head one byte at a time
(slowloris) or never finishes its body holds a thread for as long as it likes; with more such clients than
threads, nobody else is answered. Here a pool thread only takes what has arrived (never blocking) into the
connection's own buffer: until the whole head and its announced body are there, the connection goes back to
gunicorn's poller (gthread's own deferral), and a request not complete within HTTP_REQUEST_TIMEOUT_S of its
first byte is dropped. Then gunicorn's parser starts with those bytes. (Taking them, not peeking: bytes left
on the socket keep it readable, and the poller would hand the connection back at once, a busy loop.) Reads
that still wait (a chunked body, one larger than the window) stop at the same deadline. gunicorn's own error
answers are JSON (`write_json_error`).

A body announced over MAX_BODY_BYTES is refused at once (413, from the app) without being read. The client is
still sending it, and closing a socket with unread data resets the connection, which can destroy the answer
before the client reads it. So a connection that closes after an answer lingers: its write side is shut
(the client sees the end of the answer) and what the client still sends is read and discarded, without
waiting in a thread (the connection sits on gunicorn's poller between reads), until the client closes, or
LINGER_MAX_BYTES or HTTP_REQUEST_TIMEOUT_S run out.
A stopping worker keeps its idle kept-alive connections open for STOP_KEEPALIVE_LINGER_S (gthread's own is 2 s),
for a request a client was already sending: every service keeps such a connection from the dashboard's session
and the other services', so with gthread's 2 s every stop and restart waited them out, about 2 s each.

Relies on gthread internals (`_DEFER`, TConn, `_keepalive_after`, `_cap_keepalive`): gunicorn is pinned in pyproject.toml (and
the locks).
"""
from __future__ import annotations

import json
import re
import socket
import time

from gunicorn import util as gunicorn_util
from gunicorn.workers.gthread import _DEFER, ThreadWorker

from .settings import get_settings

SEND_TIMEOUT_S = 30.0  # writing the answer: a client that stops reading it is dropped too
PEEK_MAX = 128 * 1024  # more taken than this: dispatch, the reads below are deadline-bound anyway
LINGER_MAX_BYTES = 16 * 1024 * 1024  # of a refused body, read and discarded so the client can read the answer
# Any header line, not only the last: in MULTILINE mode `$` is before "\n", so the "\r" must be matched too.
_LENGTH = re.compile(rb"^content-length:[ \t]*(\d{1,12})[ \t]*\r?$", re.I | re.M)
_NO_WAIT = re.compile(rb"^(transfer-encoding:.*chunked|expect:[ \t]*100-continue)", re.I | re.M)
WAIT, READY, EXPIRED = "wait", "ready", "expired"
# How long a stopping worker keeps an idle kept-alive connection open for a request already on its way (one
# sent later finds it closed, as it would find the stopped service). gthread's own STOP_KEEPALIVE_LINGER is 2 s.
STOP_KEEPALIVE_LINGER_S = 0.25


def request_state(data: bytes, eof: bool, age_s: float, limit_s: float, max_body: int) -> str:
    """Has the request in `data` (the bytes taken off the socket so far) fully arrived? Pure, so it is unit-tested."""
    if eof or len(data) >= PEEK_MAX:
        return READY  # a disconnect or a flood: gunicorn's parser deals with it at once
    end = data.find(b"\r\n\r\n")
    if end >= 0:
        head = data[:end]
        length = _LENGTH.search(head)
        if _NO_WAIT.search(head) or length is None or len(data) >= end + 4 + int(length.group(1)):
            return READY
        if int(length.group(1)) > max_body:
            return READY  # refused without reading it (413); it may never fit in the socket's buffer anyway
    return EXPIRED if age_s > limit_s else WAIT


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """What gunicorn answers itself (a malformed request line or header, a URI or head too long, a bad length or
    chunk): the contract's JSON error body instead of gunicorn's HTML page, with the same status."""
    body = json.dumps({"error": reason.lower().replace(" ", "_"), "detail": mesg or reason}).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    gunicorn_util.write_nonblock(sock, head.encode("latin-1") + body)


class DeadlineSocket:
    """A socket whose reads stop waiting at `deadline` (time.monotonic()); everything else passes through."""

    def __init__(self, sock: socket.socket):
        self._sock = sock
        self.deadline = float("inf")
        self.expired = False

    def _with_timeout(self, timeout: float, fn, *args):
        prior = self._sock.gettimeout()
        self._sock.settimeout(timeout)
        try:
            return fn(*args)
        finally:
            self._sock.settimeout(prior)

    def recv_available(self, size: int) -> bytes:
        """What has arrived (at most `size`); BlockingIOError when nothing has, b"" when the client closed."""
        return self._sock.recv(size, socket.MSG_DONTWAIT)

    def recv(self, size: int, *flags) -> bytes:
        left = max(self.deadline - time.monotonic(), 0.0)  # 0: take what has arrived, wait for nothing more
        try:
            return self._with_timeout(left, self._sock.recv, size, *flags)
        except (TimeoutError, BlockingIOError):
            self.expired = True
            return b""  # the request took too long to arrive: treated as a client that went away

    def send(self, data, *flags) -> int:
        return self._with_timeout(SEND_TIMEOUT_S, self._sock.send, data, *flags)

    def sendall(self, data, *flags) -> None:
        self._with_timeout(SEND_TIMEOUT_S, self._sock.sendall, data, *flags)

    def sendfile(self, file, offset=0, count=None):
        return self._with_timeout(SEND_TIMEOUT_S, self._sock.sendfile, file, offset, count)

    def setblocking(self, flag: bool) -> None:
        if self._sock.fileno() != -1:  # gunicorn sets it again on a socket the linger has closed already
            self._sock.setblocking(flag)

    def __getattr__(self, name):
        return getattr(self._sock, name)


class DeadlineThreadWorker(ThreadWorker):
    request_timeout_s = 10.0
    max_body = 64 * 1024

    def init_process(self):
        settings = get_settings()
        self.request_timeout_s = settings.http_request_timeout_s
        self.max_body = settings.max_body_bytes
        gunicorn_util.write_error = write_json_error  # the one function gunicorn's error answers go through
        super().init_process()  # runs the worker loop

    def _cap_keepalive(self, deadline: float) -> None:
        """On stop: idle kept-alive connections close within STOP_KEEPALIVE_LINGER_S, not gthread's 2 s."""
        super()._cap_keepalive(min(deadline, time.monotonic() + STOP_KEEPALIVE_LINGER_S))

    def _peek(self, conn) -> str:
        if conn.parser is not None and conn.parser.unreader.buf.getvalue():
            return READY  # gunicorn read ahead into this request already
        now = time.monotonic()
        conn.first_byte_at = getattr(conn, "first_byte_at", None) or now
        if getattr(conn, "pending", None) is None:
            conn.pending = bytearray()
        eof = False
        try:
            while len(conn.pending) < PEEK_MAX:
                data = conn.sock.recv_available(PEEK_MAX - len(conn.pending))
                if not data:
                    eof = True
                    break
                conn.pending += data
        except BlockingIOError:
            pass  # all that has arrived
        except OSError:
            return READY  # let gunicorn meet the socket error
        if not conn.pending and not eof and not conn.initialized and now - conn.first_byte_at <= self.request_timeout_s:
            conn.first_byte_at = None  # nothing sent yet: the clock starts at the first byte
            return WAIT
        return request_state(bytes(conn.pending), eof, now - conn.first_byte_at, self.request_timeout_s,
                             self.max_body)

    @staticmethod
    def _hand_over(conn) -> None:
        """gunicorn's parser starts with the bytes `_peek` took off the socket."""
        if conn.pending:
            conn.init()  # the parser, reading through the DeadlineSocket (a no-op on a kept-alive connection)
            conn.parser.unreader.unread(bytes(conn.pending))
            conn.pending = bytearray()

    def handle(self, conn):
        if getattr(conn, "linger_until", None) is not None:
            return self._linger(conn)
        if not isinstance(conn.sock, DeadlineSocket):
            conn.sock = DeadlineSocket(conn.sock)  # before conn.init(), so the request parser reads through it
        state = self._peek(conn)
        if state == WAIT:
            return _DEFER  # back to the poller: no thread waits for this client
        if state == EXPIRED:
            return self._abort(conn)  # closed without an answer
        conn.first_byte_at = None  # a kept-alive connection's next request gets its own deadline
        conn.data_ready = True  # it has: skip gthread's own (blocking) wait for data
        self._hand_over(conn)
        conn.sock.deadline = time.monotonic() + self.request_timeout_s
        conn.answered = False
        result = super().handle(conn)
        if result and not conn.sock.expired:
            return result  # kept alive
        if conn.sock.expired and not conn.answered:
            return self._abort(conn)  # the request never arrived in time: nothing to protect
        # Closing after an answer (ours, or gunicorn's own error): the client may still be sending.
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            return self._abort(conn)
        conn.linger_until = time.monotonic() + self.request_timeout_s
        conn.linger_left = LINGER_MAX_BYTES
        return self._linger(conn)

    def _keepalive_after(self, conn, keepalive):
        """After an answer: gthread drains an unread body here, waiting up to 5 s in this thread for a client
        that trickles it. Only what has arrived is read (a deadline of now); the rest is left to the linger."""
        conn.answered = True
        conn.sock.deadline = time.monotonic()
        return super()._keepalive_after(conn, keepalive)

    def _linger(self, conn):
        """Read and discard what has arrived, never waiting: back to the poller until the client closes, or the
        byte budget or the deadline runs out."""
        sock = conn.sock._sock
        try:
            while conn.linger_left > 0:
                data = sock.recv(min(conn.linger_left, 256 * 1024), socket.MSG_DONTWAIT)
                if not data:
                    break  # the client closed: it has read the answer
                conn.linger_left -= len(data)
        except BlockingIOError:
            if time.monotonic() < conn.linger_until:
                return _DEFER
        except OSError:
            pass
        return self._abort(conn)

    @staticmethod
    def _abort(conn):
        """Close here, in the pool thread: gthread's own close would linger on the main thread (up to 2 s)."""
        conn.sock.close()
        return False
