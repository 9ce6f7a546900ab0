"""common.process.serve: a SIGTERM stops every worker and exits 0; a crashed worker stops the others and exits 1."""
import os
import signal
import threading

import pytest
import requests

from common.process import serve
from common.settings import Settings

pytestmark = pytest.mark.unit


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


class Loop:
    """A worker whose loop runs until stop(), like a consumer's."""

    name = "loop"

    def __init__(self):
        self.running = threading.Event()
        self.stopped = threading.Event()

    def run(self):
        self.running.set()
        self.stopped.wait(30)

    def stop(self):
        self.stopped.set()


class Crashing:
    name = "crashing"

    def __init__(self, after: threading.Event):
        self.after = after

    def run(self):
        self.after.wait(10)
        raise RuntimeError("a bug in the loop")

    def stop(self):
        pass


@pytest.fixture(autouse=True)
def restore_signal_handlers():
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def settings() -> Settings:
    return Settings(log_format="text", http_channel_timeout_s=2)


def test_sigterm_stops_every_worker_and_exits_0():
    loops = [Loop(), Loop()]
    answered = []

    def terminate():
        assert all(w.running.wait(10) for w in loops)
        answered.append(requests.get(f"http://127.0.0.1:{port}/", timeout=5).text)
        os.kill(os.getpid(), signal.SIGTERM)

    port = _free_port()
    threading.Thread(target=terminate, daemon=True).start()
    assert serve("probe", app, loops, settings(), port) == 0
    assert answered == ["ok"]  # the HTTP side served beside the loops
    assert all(w.stopped.is_set() for w in loops)


def test_a_crashed_worker_stops_the_others_and_exits_1():
    loop = Loop()
    assert serve("probe", app, [loop, Crashing(after=loop.running)], settings(), _free_port()) == 1
    assert loop.stopped.is_set()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
