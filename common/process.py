"""One shape for every service process that consumes (Part B's services, Part C's consumers): the part's
`build(settings) -> (app, workers)` composes it, and `serve` runs it: each worker's loop in a thread, the
shared in-process HTTP server (`common.http_server`: waitress, bounded threads and timeouts) beside them for
/health and the service's endpoints, and a clean stop on SIGTERM or SIGINT.

On SIGTERM: the HTTP server stops taking requests, each worker finishes what it has in hand (the message or
the poll batch) and closes its connection, then the process exits 0. A worker that dies unexpectedly stops the
process with exit code 1, so the runtime shows it as crashed instead of half-alive.
"""
from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Sequence
from typing import Protocol

from .http_server import HttpServer
from .settings import Settings


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
