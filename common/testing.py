"""pytest fixtures the parts share (imported into each part's tests/conftest.py).

The scenario ring runs each part's `tests/test_<part>.py` against `stack`: the natively started part, or with
STACK_RUNTIME=docker (the docker ring of `make test`) the part's compose stack, started here on a real engine
(or skipped, with the reason, where no engine can be had).
"""
from __future__ import annotations

import json
import subprocess
import time

import pytest

from .settings import ROOT, Settings
from .stack import OFFLINE_ENV, DockerStack, NativeStack, docker_client_settings, read_env_file


def runtime_is_docker() -> bool:
    return Settings().stack_runtime == "docker"


@pytest.fixture(scope="session")
def settings() -> Settings:
    s = Settings()
    return docker_client_settings(s) if s.stack_runtime == "docker" else s


@pytest.fixture
def tmp_settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path, log_format="text")


def native_stack_fixture(part: str):
    """A session fixture: the whole part started natively (as `make up PART=<part>`) with the admin API on,
    stopped at the end."""

    @pytest.fixture(scope="session")
    def native_stack(settings):
        stack = NativeStack(part, settings, admin=True)
        stack.up()
        yield stack
        stack.down()

    return native_stack


def stack_fixture():
    """`stack`: the docker ring's compose stack with STACK_RUNTIME=docker, else the native one."""

    @pytest.fixture(scope="session")
    def stack(request):
        name = "docker_stack" if runtime_is_docker() else "native_stack"
        return request.getfixturevalue(name)

    return stack


# ------------------------------------------------------------------------------------------- docker ring
def docker_image_env() -> dict[str, str]:
    """Engine, compose plugin and images for the docker ring, through the platform scripts (docker/compose.sh,
    docker/images.sh): the image variables to use. Skips, with the reason, where no engine can be had."""
    script = ROOT / "docker" / "compose.sh"
    if not script.exists():
        pytest.skip("docker ring: docker/compose.sh is missing (no way to start an engine here)")
    out = subprocess.run([str(script), "env"], capture_output=True, text=True, cwd=ROOT)
    if out.returncode == 3:
        pytest.skip(f"docker ring: no Docker engine can be had here: {out.stderr.strip().splitlines()[-1]}")
    assert out.returncode == 0, f"docker/compose.sh env failed:\n{out.stderr[-2000:]}"
    env = read_env_file_text(out.stdout)
    offline = read_env_file(OFFLINE_ENV)
    if any(offline.get(k) == v for k, v in env.items()):  # local stand-ins needed: build them (cached)
        built = subprocess.run([str(ROOT / "docker" / "images.sh")], capture_output=True, text=True, cwd=ROOT)
        if built.returncode == 3:
            pytest.skip(f"docker ring: no Docker engine can be had here: {built.stderr.strip().splitlines()[-1]}")
        assert built.returncode == 0, f"docker/images.sh failed:\n{built.stdout[-1500:]}\n{built.stderr[-1500:]}"
    return env


def read_env_file_text(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))


def compose_events(stack: DockerStack, since: float, until: float) -> list[dict]:
    """The engine's events for this part's containers between two times (start, health_status, die, ...)."""
    out = subprocess.run(["docker", "events", "--since", f"{since:.3f}", "--until", f"{until:.3f}", "--filter",
                          f"label=com.docker.compose.project=foodlab-{stack.part}", "--format", "{{json .}}"],
                         capture_output=True, text=True, check=True, timeout=60)
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def docker_stack_fixture(part: str, env: dict[str, str] | None = None):
    """A session fixture: the part's compose stack from empty volumes (`down -v`, `up -d --build --wait`) with
    ADMIN_API=true, removed with its volumes at the end. The engine's events of that first `up` are kept on
    `stack.up_events` (the order in which containers started and became healthy)."""

    @pytest.fixture(scope="session")
    def docker_stack(settings):
        stack = DockerStack(part, settings, admin=True, env=docker_image_env() | (env or {}))
        stack.down()
        t0 = time.time()
        stack.up()
        stack.up_events = compose_events(stack, t0 - 1, time.time())
        yield stack
        stack.down()

    return docker_stack
