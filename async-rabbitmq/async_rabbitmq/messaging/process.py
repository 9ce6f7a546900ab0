"""How every Part B service process runs: its AMQP clients in threads, the shared in-process HTTP server
(`common.http_server`: waitress, bounded threads and timeouts) for /health and the service's endpoints, and a
clean stop on SIGTERM or SIGINT.

On SIGTERM: the HTTP server stops taking requests, each client finishes the
message in hand and closes its connection, then the process exits 0. A client
thread that dies unexpectedly stops the process with exit code 1, so the
runtime shows it as crashed instead of half-alive.
"""
from __future__ import annotations

import logging
import signal
import threading

from common.http_server import HttpServer
from common.settings import Settings


def serve(name: str, app, settings: Settings, port: int, clients=()) -> int:
    log = logging.getLogger(name)
    stop = threading.Event()
    crashed: list[str] = []

    def _guard(client):
        try:
            client.run()
        except BaseException:  # a bug, not a broker outage (those are retried inside run)
            log.exception("%s crashed", client.name)
            crashed.append(client.name)
            stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server = HttpServer(app, settings.bind_host, port, settings)
    threads = [threading.Thread(target=_guard, args=(c,), name=c.name, daemon=True) for c in clients]
    for t in threads:
        t.start()
    server.start()
    log.info("%s listening on %s:%d", name, settings.bind_host, port)
    while not stop.wait(0.5):
        pass
    log.info("%s stopping", name)
    server.shutdown()
    for c in clients:
        c.stop()
    for t in threads:
        t.join(timeout=15)
    log.info("%s stopped", name)
    return 1 if crashed else 0
