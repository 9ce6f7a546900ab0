"""The one small interface scenario scripts use to start and break a part, natively or with Docker Compose.

`get_stack(part)` picks the runtime from `STACK_RUNTIME` (native by default,
`docker` for `docker compose` in the part's folder), so the same scenario
script works for a user with Docker.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import Protocol

import requests

from .settings import ROOT, Settings, get_settings


class Stack(Protocol):
    part: str
    runtime: str

    def up(self) -> None: ...
    def down(self) -> None: ...
    def stop(self, service: str) -> None: ...
    def start(self, service: str, env: dict[str, str] | None = None) -> None: ...
    def kill(self, service: str) -> None: ...
    def logs(self, service: str, lines: int = 40) -> str: ...
    def describe(self) -> str: ...


class NativeStack:
    runtime = "native"

    def __init__(self, part: str, settings: Settings | None = None, quiet: bool = True):
        from .runtime.control import Part

        self.part = part
        self._part = Part(part, settings)
        self._say = (lambda *_: None) if quiet else print

    def up(self) -> None:
        self._part.up(progress=self._say)

    def down(self) -> None:
        self._part.down(progress=self._say)

    def stop(self, service: str) -> None:
        self._part.stop(service, progress=self._say)

    def start(self, service: str, env: dict[str, str] | None = None) -> None:
        # Faults are switched by the environment at start: off unless passed here.
        self._part.start(service, env=without_faults(os.environ) | (env or {}), progress=self._say)

    def kill(self, service: str) -> None:
        self._part.kill(service, signal.SIGKILL)

    def pid(self, service: str) -> int | None:
        return self._part.pid(service)

    def logs(self, service: str, lines: int = 40) -> str:
        return self._part.tail(service, lines)

    def describe(self) -> str:
        return "native processes under supervisord (make up)"


# Fault switches: cleared on every (re)start unless passed explicitly, so they are off unless asked for.
FAULT_VARS = ("INVENTORY_DELAY_MS", "SIMULATED_DELAY", "FORCE_FAILURE", "NOTIFICATION_FORCE_FAILURE")


def without_faults(env) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in FAULT_VARS}


class DockerStack:
    runtime = "docker"

    def __init__(self, part: str, settings: Settings | None = None):
        self.part = part
        self.settings = settings or get_settings()
        self.base = ["docker", "compose", "--project-directory", str(ROOT / part), "-f",
                     str(ROOT / part / "docker-compose.yml")]

    def _run(self, *args: str, env: dict[str, str] | None = None, capture: bool = False) -> str:
        full_env = without_faults(os.environ) | (env or {})
        out = subprocess.run([*self.base, *args], env=full_env, check=True, text=True,
                             stdout=subprocess.PIPE if capture else None)
        return out.stdout or ""

    def up(self) -> None:
        self._run("up", "-d", "--build", "--wait")

    def down(self) -> None:
        self._run("down", "-v")

    def stop(self, service: str) -> None:
        self._run("stop", service)

    def start(self, service: str, env: dict[str, str] | None = None) -> None:
        # Recreate so the new environment (faults on or off) applies, then wait for its healthcheck.
        self._run("up", "-d", "--no-deps", "--force-recreate", "--wait", service, env=env)

    def kill(self, service: str) -> None:
        self._run("kill", "-s", "SIGKILL", service)

    def pid(self, service: str) -> int | None:
        return None

    def logs(self, service: str, lines: int = 40) -> str:
        return self._run("logs", "--no-color", "--no-log-prefix", "--tail", str(lines), service, capture=True)

    def describe(self) -> str:
        return f"docker compose ({ROOT / self.part / 'docker-compose.yml'})"


def get_stack(part: str, runtime: str | None = None, settings: Settings | None = None) -> Stack:
    runtime = runtime or (settings or get_settings()).stack_runtime
    return DockerStack(part, settings) if runtime == "docker" else NativeStack(part, settings)


def wait_for(predicate, timeout: float, interval: float = 0.1, what: str = "condition"):
    """Poll until predicate() returns a truthy value; return it, or raise TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def wait_healthy(url: str, timeout: float = 60.0) -> None:
    def ok():
        try:
            return requests.get(f"{url}/health", timeout=2).status_code == 200
        except requests.RequestException:
            return False
    wait_for(ok, timeout, what=f"{url}/health")
