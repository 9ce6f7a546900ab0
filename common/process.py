"""One shape for every service of every part: the service module's `build(settings) -> (app, workers)`
composes it (`workers`: consumer loops, an outbox relay; empty for a plain HTTP service), and one of two
runners serves it:

- `serve` (consumers: Part B's inventory and notification, Part C's consumers): each worker's loop in a
  thread, the shared in-process HTTP server (`common.http_server`: waitress, bounded threads and timeouts)
  beside them for /health and the service's endpoints, and a clean stop on SIGTERM or SIGINT.
- `wsgi` (gunicorn, for the services whose HTTP side carries the load: Part A's three, Part B's order-service,
  Part C's producer-order): gunicorn's app factory `common.process:wsgi('<module>')`; the workers run as
  threads of the gunicorn worker process and are stopped by the `worker_exit` hook of `common.gunicorn_conf`.

On SIGTERM: the HTTP server stops taking requests, each worker finishes what it has in hand (the message or
the poll batch) and closes its connection, then the process exits 0. A worker that dies unexpectedly stops the
process with exit code 1, so the runtime shows it as crashed instead of half-alive.
"""
from __future__ import annotations

import importlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import Protocol

from .http_server import HttpServer
from .logs import setup_logging
from .settings import Settings, get_settings


class Worker(Protocol):
    """A consumer loop: `run()` until `stop()` is called, retrying broker outages inside `run()`."""

    name: str

    def run(self) -> None: ...
    def stop(self) -> None: ...


def serve(name: str, app, workers: Sequence[Worker], settings: Settings, port: int,
          stop_timeout_s: float | None = 15.0) -> int:
    """Run `workers` beside `app` (served on settings.bind_host:port) until SIGTERM/SIGINT or a worker crashes;
    returns the exit status. `stop_timeout_s`: how long each worker may take to finish (None: as long as it
    needs, e.g. to write its final state)."""
    log = logging.getLogger(name)
    stop = threading.Event()
    crashed: list[str] = []

    def guard(worker: Worker) -> None:
        try:
            worker.run()
        except BaseException:  # a bug, not a broker outage (those are retried inside run)
            log.exception("%s crashed", worker.name)
            crashed.append(worker.name)
        finally:
            stop.set()  # a loop that ends on its own ends the process too

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server = HttpServer(app, settings.bind_host, port, settings)
    threads = [threading.Thread(target=guard, args=(w,), name=w.name, daemon=True) for w in workers]
    for t in threads:
        t.start()
    server.start()
    log.info("%s listening on %s:%d", name, settings.bind_host, port)
    while not stop.wait(0.5):
        pass
    log.info("%s stopping", name)
    server.shutdown()
    for w in workers:
        w.stop()
    for t in threads:
        t.join(timeout=stop_timeout_s)
    log.info("%s stopped", name)
    return 1 if crashed else 0


class OnStop:
    """A worker with no loop of its own: holds a resource (a Kafka producer) and releases it on stop."""

    def __init__(self, name: str, release):
        self.name = name
        self._release = release
        self._stopping = threading.Event()

    def run(self) -> None:
        self._stopping.wait()
        self._release()

    def stop(self) -> None:
        self._stopping.set()


# -- gunicorn: the same build(), its workers as threads of the gunicorn worker process ------------------------
WORKERS = "foodlab.workers"  # the app's `extensions` key: the name of its service and its (worker, thread) pairs


def gunicorn_argv(module_name: str, host: str, port: int, workers: int, threads: int) -> list[str]:
    """The one gunicorn command line every gunicorn-served service runs with (natively and by `python -m`):
    gthread workers, `common.gunicorn_conf`, and `wsgi(module_name)` as the app factory."""
    return [sys.executable, "-m", "gunicorn", "--config", "python:common.gunicorn_conf", "--bind", f"{host}:{port}",
            "--workers", str(workers), "--threads", str(threads), f"common.process:wsgi({module_name!r})"]


def wsgi(module_name: str):
    """gunicorn's app factory for every gunicorn-served service: `common.process:wsgi('sync_rest.order_service.app')`.

    Runs in each gunicorn worker, after the fork: logging as the module's `NAME`, `build(settings)`, and each of
    its workers in a thread. A worker that crashes (a bug: broker outages are retried inside `run`) stops this
    gunicorn worker with SIGTERM, and gunicorn starts a fresh one."""
    module = importlib.import_module(module_name)
    settings = get_settings()
    setup_logging(module.NAME, settings.log_level, settings.log_format)
    app, workers = module.build(settings)
    log = logging.getLogger(module.NAME)
    running: list[tuple[Worker, threading.Thread]] = []
    app.extensions[WORKERS] = (module.NAME, running)

    def guard(worker: Worker) -> None:
        try:
            worker.run()
        except BaseException:
            log.exception("%s crashed; restarting the gunicorn worker", worker.name)
            os.kill(os.getpid(), signal.SIGTERM)

    for worker in workers:
        thread = threading.Thread(target=guard, args=(worker,), name=worker.name, daemon=True)
        thread.start()
        running.append((worker, thread))
    return app


def stop_workers(app, timeout_s: float = 2.5) -> None:
    """gunicorn's `worker_exit` hook (common.gunicorn_conf), with the app `wsgi` built in this gunicorn worker:
    the workers it started finish and disconnect."""
    name, running = app.extensions.pop(WORKERS, ("", []))
    for worker, _ in running:
        worker.stop()
    deadline = time.monotonic() + timeout_s
    for _, thread in running:
        thread.join(max(0.0, deadline - time.monotonic()))
    if running:
        logging.getLogger(name).info("%s stopped", name)
