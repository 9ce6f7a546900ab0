"""What a part is made of: its services, in start order, each with a command and a readiness check.

Each part declares its services in its lab's `stack` module (`sync_rest.lab.stack`, ...: a
`services(settings)` function, and optionally `DATA`, what `make reset` removes, and `backlog(settings)`, what
`make watch` samples); this module loads those declarations and offers the common kinds.
"""
from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field
from typing import Callable

import requests

from common.process import gunicorn_argv
from common.settings import Settings

PARTS = ("sync-rest", "async-rabbitmq", "streaming-kafka")


def package(part: str) -> str:
    """The package a part's folder holds: `sync-rest` -> `sync_rest`."""
    return part.replace("-", "_")


@dataclass
class Service:
    name: str
    argv: list[str]
    port: int | None = None
    health_url: str | None = None  # ready when GET answers 200
    ready: Callable[[], bool] | None = None  # or a custom readiness check
    prepare: Callable[[], None] | None = None  # runs before each start (install, format storage, ...)
    cleanup: Callable[[], None] | None = None  # runs after a stop (e.g. helper daemons the service left)
    env: dict[str, str] = field(default_factory=dict)
    stop_wait_s: int = 20
    startup_timeout_s: float = 60.0
    extra_ports: tuple[int, ...] = ()  # other ports it listens on, checked for clashes
    profile: str | None = None  # as a compose profile: not started by `up`, only when named (`start`)
    # `down` stops the services of one stop group together: the nodes of a KRaft quorum stopped one by one
    # lose their majority, and the last ones then hang in their controlled shutdown until SIGKILL.
    stop_group: str | None = None
    # `up` starts the services of one start group together, then waits for each: the nodes of a RabbitMQ cluster
    # wait at boot for the node that stopped last, whichever it is, and started one by one wait for one not yet
    # started (RabbitMQ's clustering guide, "Restarting Cluster Nodes": restart them in parallel).
    start_group: str | None = None
    # served by gunicorn: its workers write their Prometheus samples to files (prometheus_client's multiprocess
    # mode) in a folder of the part's .run/, emptied by common.gunicorn_conf at each start
    multiprocess_metrics: bool = False

    def is_ready(self) -> bool:
        if self.ready is not None:
            return bool(self.ready())
        if self.health_url:
            try:
                return requests.get(self.health_url, timeout=2).status_code == 200
            except requests.RequestException:
                return False
        return True


def gunicorn_service(settings: Settings, name: str, module: str, port: int,
                     workers: int | None = None, threads: int | None = None, **kw) -> Service:
    """A Flask service served by gunicorn (gthread workers), as in the containers: `module`'s `build(settings)`
    through gunicorn's app factory `common.process:wsgi`."""
    argv = gunicorn_argv(module, settings.bind_host, port, workers or settings.web_workers,
                         threads or settings.web_threads)
    host = "127.0.0.1" if settings.bind_host in ("0.0.0.0", "::") else settings.bind_host
    kw.setdefault("multiprocess_metrics", True)
    return Service(name=name, argv=argv, port=port, health_url=f"http://{host}:{port}/health", **kw)


def python_service(settings: Settings, name: str, module: str, port: int | None, args=(), **kw) -> Service:
    """A long-running Python process (a consumer, a relay) started with `python -m`."""
    host = "127.0.0.1" if settings.bind_host in ("0.0.0.0", "::") else settings.bind_host
    health = f"http://{host}:{port}/health" if port else None
    argv = [sys.executable, "-m", module, *args]
    return Service(name=name, argv=argv, port=port, health_url=health, **kw)


def load_services(part: str, settings: Settings) -> list[Service]:
    """The services `<package>.lab.stack` declares for the part (each part is a package named after it)."""
    return list(_stack(part).services(settings))


def load_data(part: str) -> tuple[str, ...]:
    """What `make reset` removes, relative to the part's run folder: `<package>.lab.stack.DATA` (its SQLite files by
    default)."""
    return tuple(getattr(_stack(part), "DATA", ("data",)))


def load_backlog(part: str, settings: Settings) -> Callable[[], dict] | None:
    """What `make watch` samples: `<package>.lab.stack.backlog(settings)`, or None for a part with nothing queued."""
    backlog = getattr(_stack(part), "backlog", None)
    return backlog(settings) if backlog else None


def _stack(part: str):
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; choose one of: {', '.join(PARTS)}")
    return importlib.import_module(f"{package(part)}.lab.stack")
