"""common.process.serve: a SIGTERM stops every worker and exits 0; a crashed worker stops the others and exits 1."""
import os
import signal
import threading

import pytest
import requests
from flask import Flask

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


# -- one shape for every service: build(settings) -> (app, workers), served by serve() or by gunicorn's wsgi() --

SERVICE_MODULES = [
    "sync_rest.order_service.app", "sync_rest.inventory_service.app", "sync_rest.notification_service.app",
    "async_rabbitmq.order_service.app", "async_rabbitmq.inventory_service.app",
    "async_rabbitmq.notification_service.app",
    "streaming_kafka.producer_order.app", "streaming_kafka.inventory_consumer.app",
    "streaming_kafka.analytics_consumer.app",
]


@pytest.mark.parametrize("module", SERVICE_MODULES)
def test_every_service_is_composed_by_build_settings_into_app_and_workers(module, tmp_path, monkeypatch):
    import importlib

    from flask import Flask

    monkeypatch.setenv("METRICS_DIR", str(tmp_path / "metrics"))
    settings = Settings(data_dir=tmp_path, log_format="text", metrics_dir=tmp_path / "metrics")
    mod = importlib.import_module(module)
    app, workers = mod.build(settings)  # composing touches no broker: clients connect in their run()
    assert isinstance(app, Flask) and app.name and isinstance(mod.NAME, str)
    assert all(callable(w.run) and callable(w.stop) and w.name for w in workers)


def test_wsgi_builds_the_module_and_runs_its_workers_until_worker_exit(monkeypatch):
    from common import process
    from sync_rest.notification_service import app as notification

    loop = Loop()
    web = Flask("probe")
    monkeypatch.setattr(notification, "build", lambda settings: (web, [loop]))
    assert process.wsgi("sync_rest.notification_service.app") is web
    assert loop.running.wait(5)
    process.stop_workers(web)  # gunicorn's worker_exit hook
    assert loop.stopped.is_set() and process.WORKERS not in web.extensions


def test_a_crashed_wsgi_worker_restarts_its_gunicorn_worker(monkeypatch):
    from common import process
    from sync_rest.notification_service import app as notification

    killed = threading.Event()
    monkeypatch.setattr(process.os, "kill", lambda pid, sig: killed.set() if sig == signal.SIGTERM else None)
    at_once = threading.Event()
    at_once.set()
    web = Flask("probe")
    monkeypatch.setattr(notification, "build", lambda settings: (web, [Crashing(at_once)]))
    process.wsgi("sync_rest.notification_service.app")
    assert killed.wait(5)
    process.stop_workers(web)


def test_on_stop_releases_its_resource_only_when_stopped():
    from common.process import OnStop

    released = threading.Event()
    worker = OnStop("producer", released.set)
    thread = threading.Thread(target=worker.run)
    thread.start()
    assert not released.wait(0.2)
    worker.stop()
    thread.join(5)
    assert released.is_set()
