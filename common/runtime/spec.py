"""What a part is made of: its services, in start order, each with a command and a readiness check.

Each part declares its services in `<part>/stack.py` (a `services(settings)`
function); this module loads those declarations and offers the common kinds.
"""
from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import requests

from ..settings import ROOT, Settings

PARTS = ("sync-rest", "async-rabbitmq", "streaming-kafka")


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

    def is_ready(self) -> bool:
        if self.ready is not None:
            return bool(self.ready())
        if self.health_url:
            try:
                return requests.get(self.health_url, timeout=2).status_code == 200
            except requests.RequestException:
                return False
        return True


def gunicorn_service(settings: Settings, part: str, name: str, app: str, port: int,
                     workers: int | None = None, threads: int | None = None, **kw) -> Service:
    """A Flask service served by gunicorn (gthread workers), as in the containers."""
    argv = [
        sys.executable, "-m", "gunicorn",
        "--config", str(ROOT / "common" / "gunicorn_conf.py"),
        "--chdir", str(ROOT / part),
        "--bind", f"{settings.bind_host}:{port}",
        "--workers", str(workers or settings.web_workers),
        "--threads", str(threads or settings.web_threads),
        app,
    ]
    host = "127.0.0.1" if settings.bind_host in ("0.0.0.0", "::") else settings.bind_host
    return Service(name=name, argv=argv, port=port, health_url=f"http://{host}:{port}/health", **kw)


def python_service(settings: Settings, part: str, name: str, module: str, port: int | None, args=(), **kw) -> Service:
    """A long-running Python process (a consumer, a relay) started with `python -m`."""
    host = "127.0.0.1" if settings.bind_host in ("0.0.0.0", "::") else settings.bind_host
    health = f"http://{host}:{port}/health" if port else None
    argv = [sys.executable, "-m", module, *args]
    return Service(name=name, argv=argv, port=port, health_url=health, **kw)


def _file_under(module, folder: Path) -> bool:
    path = getattr(module, "__file__", None)
    return bool(path) and Path(path).resolve().is_relative_to(folder)


def load_services(part: str, settings: Settings) -> list[Service]:
    """Load `<part>/stack.py` with the part's own folder first on sys.path.

    The parts reuse module names (`broker`, `order_service`, ...), so modules another part
    loaded are set aside while this one loads, and this part's are not left behind."""
    if part not in PARTS:
        raise SystemExit(f"unknown part {part!r}; choose one of: {', '.join(PARTS)}")
    part_dir = (ROOT / part).resolve()
    others = {n: m for n, m in sys.modules.items()
              if any(_file_under(m, (ROOT / p).resolve()) for p in PARTS if p != part)}
    for name in others:
        del sys.modules[name]
    saved_path = list(sys.path)
    before = set(sys.modules)
    sys.path.insert(0, str(part_dir))
    try:
        spec = importlib.util.spec_from_file_location(f"_stack_{part.replace('-', '_')}", part_dir / "stack.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return list(module.services(settings))
    finally:
        sys.path[:] = saved_path
        for name in set(sys.modules) - before:
            if _file_under(sys.modules[name], part_dir):
                del sys.modules[name]
        sys.modules.update(others)
