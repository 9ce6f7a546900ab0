"""The HTTP server a consumer process runs beside its consumer loop (Part B's services, Part C's consumers):
waitress in a background thread, started and stopped by the process's entrypoint.

Why waitress: its event loop reads and buffers each request completely before a worker thread sees it, so a
slow client (headers byte by byte, a body that never ends) holds a socket and a small buffer, never a
thread; the threads are a bounded pool (HTTP_THREADS); idle or stalled connections are closed after
HTTP_CHANNEL_TIMEOUT_S; at most HTTP_CONNECTION_LIMIT connections are open at once (more wait in the listen
backlog). Werkzeug's development server, used before, spent a thread per connection and had no timeouts.

A connection that closes after an answer (a body over MAX_BODY_BYTES is refused before it is read) lingers:
its write side is shut and what the client still sends is read and discarded on the event loop, so that the
close does not reset the connection and destroy the answer before the client reads it. It ends when the
client closes, after LINGER_MAX_BYTES, or after HTTP_CHANNEL_TIMEOUT_S.
"""
from __future__ import annotations

import json
import logging
import socket
import threading
import time

from waitress import create_server, wasyncore
from waitress.channel import HTTPChannel
from waitress.task import ErrorTask
from waitress.trigger import trigger

from .settings import Settings

log = logging.getLogger("http")
LINGER_MAX_BYTES = 16 * 1024 * 1024  # of a refused body, read and discarded so the client can read the answer


class JsonErrorTask(ErrorTask):
    """What waitress answers itself (a malformed request, a body over MAX_BODY_BYTES):
    the contract's JSON error body instead of waitress's plain text, with the same status."""

    def execute(self):
        err = self.request.error
        body = json.dumps({"error": err.reason.lower().replace(" ", "_"), "detail": str(err.body)}).encode()
        self.status = f"{err.code} {err.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class JsonErrorChannel(HTTPChannel):
    """waitress's channel with JSON errors, and a linger instead of an abrupt close (see the module docstring)."""

    error_task_class = JsonErrorTask
    linger_until: float | None = None
    linger_left = LINGER_MAX_BYTES

    def handle_close(self):
        if self.linger_until is not None or not self.connected:
            return super().handle_close()
        try:
            self.socket.shutdown(socket.SHUT_WR)  # the client sees the answer end
        except OSError:
            return super().handle_close()
        self.will_close = self.close_when_flushed = False
        self.linger_until = time.monotonic() + self.adj.channel_timeout

    def readable(self):
        return True if self.linger_until is not None else super().readable()

    def handle_read(self):
        if self.linger_until is None:
            return super().handle_read()
        try:
            data = self.socket.recv(min(self.linger_left, 256 * 1024))
        except BlockingIOError:
            return None
        except OSError:
            data = b""
        self.linger_left -= len(data)
        if not data or self.linger_left <= 0 or time.monotonic() > self.linger_until:
            super().handle_close()  # the client closed (it has read the answer), or the budget ran out
        return None


class HttpServer:
    def __init__(self, app, host: str, port: int, settings: Settings):
        self._map: dict = {}  # our own socket map: the loop ends when we empty it
        self._server = create_server(
            app, map=self._map, host=host, port=port,
            threads=settings.http_threads,
            connection_limit=settings.http_connection_limit,
            channel_timeout=settings.http_channel_timeout_s,
            cleanup_interval=max(1, int(settings.http_channel_timeout_s // 3)),
            max_request_header_size=64 * 1024,
            max_request_body_size=settings.max_body_bytes + 1,  # waitress refuses a body of this size or more
            ident=None,  # no Server header
            expose_tracebacks=False,
        )
        self._server.channel_class = JsonErrorChannel
        self._wake = trigger(self._map)  # runs a callable inside the loop thread (wasyncore is not thread-safe)
        self._thread = threading.Thread(target=self._run, name=f"http-{port}", daemon=True)
        self.port = int(self._server.effective_port)  # the bound port (port 0 picks a free one)

    def _run(self) -> None:
        wasyncore.loop(timeout=1, map=self._map, use_poll=True)

    def start(self) -> "HttpServer":
        self._thread.start()
        return self

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop serving: requests in hand finish (up to `timeout`), then every socket is closed and the loop ends."""
        if not self._thread.is_alive():
            return
        self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=timeout)
        self._wake.pull_trigger(lambda: wasyncore.close_all(self._map))
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("HTTP server on port %d did not stop within %.0fs", self.port, timeout)

