"""Slow HTTP clients (slowloris-style) for the test rings: bounded in count and in time, loopback only.

Half of the connections send a request head one byte at a time and never finish it (one more header line
after another); the other half send a complete head announcing a body and then trickle that body one byte
at a time, never finishing it. One thread drives them all; it stops by itself after `duration_s`, and
leaving the `with` block closes every socket.
"""
from __future__ import annotations

import itertools
import socket
import threading
import time
from dataclasses import dataclass

LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass
class SlowReport:
    opened: int
    closed_by_server: int  # the server hung up on them (a timeout doing its work)
    bytes_sent: int


class SlowClients:
    def __init__(self, port: int, count: int = 100, host: str = "127.0.0.1", post_path: str = "/health",
                 interval_s: float = 0.2, duration_s: float = 60.0):
        if host not in LOOPBACK:
            raise ValueError("slow clients only ever target loopback")
        if not 1 <= count <= 500:
            raise ValueError("count must be 1..500")
        self.addr = (host, port)
        self.count, self.interval_s, self.duration_s = count, interval_s, duration_s
        self.post_path = post_path
        self._socks: list[socket.socket] = []
        self._streams: list = []
        self._dead: set[int] = set()
        self._sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drive, name="slow-clients", daemon=True)
        self.rounds = 0  # trickle rounds done: after one, every connection has sent at least one byte

    def _head_stream(self, i: int):
        yield from b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        for n in itertools.count():
            yield from f"X-Slow-{i}-{n}: {'a' * 10}\r\n".encode()

    def _body_stream(self, i: int):
        # Content-Length before another header, as `requests` sends it: the server must find it anywhere in the head
        yield (f"POST {self.post_path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 60000\r\n"
               f"Content-Type: application/json\r\n\r\n").encode()
        yield from itertools.repeat(ord("["))

    def __enter__(self) -> "SlowClients":
        for i in range(self.count):
            s = socket.create_connection(self.addr, timeout=5)
            s.setblocking(False)
            self._socks.append(s)
            self._streams.append(self._head_stream(i) if i % 2 == 0 else self._body_stream(i))
        self._thread.start()
        return self

    def _drive(self) -> None:
        deadline = time.monotonic() + self.duration_s
        while not self._stop.is_set() and time.monotonic() < deadline:
            for i, (s, stream) in enumerate(zip(self._socks, self._streams, strict=True)):
                if i in self._dead:
                    continue
                chunk = next(stream)
                data = chunk if isinstance(chunk, bytes) else bytes([chunk])
                try:
                    self._sent += s.send(data)
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    self._dead.add(i)
            self.rounds += 1
            self._stop.wait(self.interval_s)

    def wait_started(self, timeout: float = 30.0) -> None:
        """Return once every connection has sent something (so each one may be holding a server resource)."""
        deadline = time.monotonic() + timeout
        while self.rounds < 2:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise TimeoutError("slow clients did not start")
            time.sleep(0.05)

    def report(self) -> SlowReport:
        return SlowReport(len(self._socks), len(self._dead), self._sent)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for s in self._socks:
            s.close()

    @property
    def all_closed(self) -> bool:
        return all(s.fileno() == -1 for s in self._socks)


def server_connections(port: int) -> int:
    """Connections the server on `port` still holds (its side: local port == port), closing ones included."""
    import psutil

    live = (psutil.CONN_ESTABLISHED, psutil.CONN_CLOSE_WAIT, psutil.CONN_SYN_RECV)
    return sum(1 for c in psutil.net_connections("tcp") if c.laddr and c.laddr.port == port and c.status in live)


@dataclass
class RingResult:
    port: int
    slow_clients: int
    probes: list[int]  # status of each normal request made while the slow clients hung (0: no answer in time)
    report: SlowReport
    held_before: int  # server-side connections before the slow clients, and after they closed
    held_after: int

    def problems(self) -> list[str]:
        """What a healthy service would not show: a slow client that never connected, a normal request
        answered wrongly or not in time (see service_probe), a connection the server still holds."""
        found = []
        if self.report.opened != self.slow_clients:
            found.append(f"{self.report.opened} of {self.slow_clients} slow clients connected")
        found += [f"probe {i}: {p!r}" for i, p in enumerate(self.probes)
                  if p == 0 or p[0] != 200 or not 400 <= p[1] < 500]
        if self.held_after > self.held_before:
            found.append(f"the server holds {self.held_after} connections, {self.held_before} before")
        return found


def service_probe(port: int, post_path: str):
    """A normal client's turn while slow clients hang: GET /health (expects 200) and a malformed JSON POST
    to `post_path` (expects a 4xx); returns the two status codes."""
    import requests

    base = f"http://127.0.0.1:{port}"

    def probe():
        health = requests.get(f"{base}/health", timeout=5)
        bad = requests.post(f"{base}{post_path}", data=b"{not json", timeout=5,
                            headers={"Content-Type": "application/json"})
        return (health.status_code, bad.status_code)
    return probe


def slow_client_ring(port: int, post_path: str, probe, count: int = 100, probes: int = 5,
                     settle_s: float = 30.0) -> RingResult:
    """Open `count` slow clients against `port`; while they hang, make `probes` normal requests (`probe()`
    returns a status code, raising on a timeout); then close them all and wait (bounded) until the server
    has let go of its side."""
    before = server_connections(port)
    statuses = []
    with SlowClients(port, count=count, post_path=post_path) as slow:
        slow.wait_started()
        for _ in range(probes):
            target = slow.rounds + 3  # spread the probes over the slow clients' trickling
            while slow.rounds < target and slow._thread.is_alive():
                time.sleep(0.05)
            try:
                statuses.append(probe())
            except OSError:  # requests' Timeout and ConnectionError are OSErrors
                statuses.append(0)
        report = slow.report()
    deadline = time.monotonic() + settle_s
    while server_connections(port) > before and time.monotonic() < deadline:
        time.sleep(0.1)
    return RingResult(port, count, statuses, report, before, server_connections(port))
