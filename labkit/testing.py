"""The pytest plugin every ring shares (pytest.ini loads it with `-p labkit.testing`): settings, the stacks
the integration, scenario and docker rings run against, the order a pytest process runs them in, and each test's
part marker (`sync_rest`, `async_rabbitmq`, `streaming_kafka`).

One process can run every ring of every part (`make test` runs two side by side, on ports of their own:
scripts/run_tests.py). The stacks are started here one at a time: asking for a part's native stack or compose stack
stops whichever other stack this session started (they would publish the same ports). Tests
run the rings that need no engine part by part, then the docker-marked ones part by part, so each stack is started
once. The scenario ring runs each part's `tests/test_<part>.py` through `stack` twice: against the natively started
part and, marked `docker`, against the part's compose stack on a real engine (skipped, with the reason, where none
can be had).

The tests remove only what they created. A native part they start is marked (`.run/<part>/started-by-tests`),
their compose stacks are projects of their own (`foodlab-test-<part>`, never a user's `foodlab-<part>` and its
volumes), and `scripts/run_tests.py` cleans up only those. A stack the session did not start (a user's `make up`
or `make docker-up`) is never stopped: a ring that needs the ports it holds is skipped, with the reason.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable

import pytest

from common.settings import ROOT, Settings
from labkit.runtime import compose
from labkit.runtime.control import Part
from labkit.runtime.spec import PARTS
from labkit.stack import OFFLINE_ENV, DockerStack, NativeStack, Stack, read_env_file, wait_for

MARKER = "started-by-tests"  # in .run/<part>/: this native part was started by a test session


def project_of_tests(part: str) -> str:
    """The compose project of the tests' stacks of a part (a user's is `foodlab-<part>`)."""
    return f"{compose.TEST_PREFIX}{part}"


def marker(settings: Settings, part: str):
    return settings.part_dir(part) / MARKER


def foreign_stack(settings: Settings, native_running=None, containers=None) -> str | None:
    """Why no test stack can be started now: a stack this session did not start holds the lab's ports (a native
    part without the marker, or a compose stack that is not the tests'). None when the ports are the tests'."""
    native_running = native_running or (lambda p: Part(p, settings).running_services())
    for part in PARTS:
        if not marker(settings, part).exists() and native_running(part):
            return (f"a native {part} stack the tests did not start is running (its ports are the tests'; "
                    f"`make down` stops it, the tests never do)")
    for c in compose.containers() if containers is None else containers:
        if not c.project.startswith(compose.TEST_PREFIX):
            return (f"the compose stack {c.project} the tests did not start is running (its ports are the "
                    f"tests'; {compose.freeing_command(c.project)} stops it, the tests never do)")
    return None


def _refuse_if_foreign(settings: Settings) -> None:
    reason = foreign_stack(settings)
    if reason:
        pytest.skip(f"left alone: {reason}")


def claim(settings: Settings, part: str) -> Callable[[], None]:
    """Before a test starts a native part: skip when a stack the tests did not start holds the ports, else mark
    the part as the tests' (before its `up`: a session that dies while starting it is still known as the
    starter). Returns what removes the mark, once the part is down (a no-op for a mark made earlier)."""
    _refuse_if_foreign(settings)
    mark = marker(settings, part)
    if mark.exists():
        return lambda: None
    mark.parent.mkdir(parents=True, exist_ok=True)
    mark.touch()
    return lambda: mark.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture
def tmp_settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path, log_format="text")


class Stacks:
    """The one stack this session keeps running, by (part, runtime), and how to stop it; and how long each start
    and stop took (`timings`: (verb, part, runtime, seconds)), in the session's summary."""

    def __init__(self):
        self.key: tuple[str, str] | None = None
        self.stack: Stack | None = None
        self._stop: Callable[[], None] | None = None
        self.timings: list[tuple[str, str, str, float]] = []

    def get(self, part: str, runtime: str, start: Callable[[], tuple[Stack, Callable[[], None]]]) -> Stack:
        """The (part, runtime) stack, started by `start()` (which returns it and its stop) after stopping any other."""
        if self.key != (part, runtime):
            self.release()
            t0 = time.monotonic()
            self.stack, self._stop = start()
            self.timings.append(("start", part, runtime, time.monotonic() - t0))
            self.key = (part, runtime)
        return self.stack

    def release(self) -> None:
        key, stop, self.key, self.stack, self._stop = self.key, self._stop, None, None, None
        if stop is not None:
            t0 = time.monotonic()
            stop()
            self.timings.append(("stop", *(key or ("?", "?")), time.monotonic() - t0))

    def summary(self) -> list[str]:
        """One line per (verb, part, runtime): how many times, how many seconds in all."""
        sums: dict[tuple[str, str, str], list[float]] = {}
        for verb, part, runtime, seconds in self.timings:
            sums.setdefault((verb, part, runtime), []).append(seconds)
        return [f"{verb} {part} ({runtime}): {len(s)} x, {sum(s):.0f} s" for (verb, part, runtime), s in sums.items()]


STACKS = Stacks()


@pytest.fixture(scope="session", autouse=True)
def _no_stack_outlives_the_session():
    yield
    STACKS.release()


def pytest_terminal_summary(terminalreporter) -> None:
    """Where the rings' time went on starting and stopping the shared stacks (a part's cluster, started by its own
    module, is not among them)."""
    if STACKS.timings:
        terminalreporter.section("stacks started and stopped")
        for line in STACKS.summary():
            terminalreporter.write_line(line)


def native_stack_fixture(part: str):
    """`native_stack`: the whole part started natively (as `make up PART=<part>`) with the admin API on, stopped
    when another stack is needed or at the end of the session."""

    @pytest.fixture(scope="module")
    def native_stack(settings):
        def start():
            release = claim(settings, part)
            stack = NativeStack(part, settings, admin=True)

            def stop():
                stack.down()
                release()

            stack.up()
            return stack, stop

        return STACKS.get(part, "native", start)

    return native_stack


def stack_fixture():
    """`stack`: what the scenario ring runs against, once natively and once (marked `docker`) as compose stack."""

    @pytest.fixture(scope="module", params=["native", pytest.param("docker", marks=pytest.mark.docker)])
    def stack(request):
        return request.getfixturevalue(f"{request.param}_stack")

    return stack


def _order(item: pytest.Item) -> int:
    """0: needs no engine; 1: the scenario ring against the compose stack; 2: the docker ring's own checks, which
    read what the scenario ring left in that stack; 3: the docker ring's cluster tests (`*_cluster.py`), which
    replace that stack with the part's three-broker one."""
    if item.get_closest_marker("docker") is None:
        return 0
    folder = item.path.parent.relative_to(ROOT) if item.path.is_relative_to(ROOT) else item.path.parent
    if "docker" not in folder.parts:
        return 1
    return 3 if item.path.stem.endswith("_cluster") else 2


def part_marker(part: str) -> str:
    """The marker every test in a part's folder carries (pytest.ini): `-m streaming_kafka` selects Part C's tests."""
    return part.replace("-", "_")


def pytest_itemcollected(item: pytest.Item) -> None:
    """Each test carries its part's marker (added as it is collected, so `-m` sees it)."""
    if item.path.is_relative_to(ROOT) and (part := item.path.relative_to(ROOT).parts[0]) in PARTS:
        item.add_marker(part_marker(part))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every part's rings that need no engine first, part by part (in collection order); then the docker-marked
    tests, part by part. Each stack still starts once, and the engine, compose plugin and images that `make test`
    gets ready in the background (minutes on a fresh machine) are there before the first docker test."""
    def part(item: pytest.Item) -> str:
        return item.path.relative_to(ROOT).parts[0] if item.path.is_relative_to(ROOT) else str(item.path.parent)

    parts: dict[str, int] = {}
    for item in items:
        parts.setdefault(part(item), len(parts))
    items.sort(key=lambda item: (_order(item) > 0, parts[part(item)], _order(item)))


# ------------------------------------------------------------------------------------------- docker ring
def wait_docker_prep(timeout: float = 1800) -> None:
    """`make test` gets the engine and the images ready in the background (scripts/run_tests.py): wait until that
    run has ended, whatever its outcome (the ring's own calls of the same scripts then say why, if it failed)."""
    done = os.environ.get("FOODLAB_DOCKER_PREP")
    if done:
        wait_for(lambda: os.path.exists(done), timeout, interval=1.0, what="the background docker/images.sh")


def docker_image_env() -> dict[str, str]:
    """Engine, compose plugin and images for the docker ring, through the platform scripts (docker/compose.sh,
    docker/images.sh): the image variables to use. Skips, with the reason, where no engine can be had."""
    wait_docker_prep()
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
                          f"label=com.docker.compose.project={stack.project}", "--format", "{{json .}}"],
                         capture_output=True, text=True, check=True, timeout=60)
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def docker_stack_fixture(part: str, env: dict[str, str] | None = None):
    """`docker_stack`: the part's compose stack from empty volumes (`down -v`, `up -d --build --wait`) with
    ADMIN_API=true, removed with its volumes when another stack is needed or at the end of the session. The
    engine's events of that first `up` are kept on `stack.up_events` (the order in which containers started and
    became healthy). Its `settings` are a client's of the compose stack (published ports, compose account)."""

    @pytest.fixture(scope="module")
    def docker_stack(settings):
        def start():
            _refuse_if_foreign(settings)
            stack = DockerStack(part, settings, admin=True, env=docker_image_env() | (env or {}),
                                project_name=project_of_tests(part))
            stack.down()
            t0 = time.time()
            stack.up()
            stack.up_events = compose_events(stack, t0 - 1, time.time())
            return stack, stack.down

        return STACKS.get(part, "docker", start)

    return docker_stack


def docker_cluster_fixture(part: str, env: dict[str, str] | None = None):
    """`docker_cluster`: the part's compose stack with its cluster file (three brokers), from empty volumes, with
    ADMIN_API=true; removed with its volumes (`down -v`, both files) when another stack is needed or at the end
    of the session. Its `settings` are a client's that knows every broker through the published ports."""

    @pytest.fixture(scope="module")
    def docker_cluster(settings):
        def start():
            _refuse_if_foreign(settings)
            stack = DockerStack(part, settings, admin=True, env=docker_image_env() | (env or {}), cluster=True,
                                project_name=project_of_tests(part))
            stack.down()
            stack.up()
            return stack, stack.down

        return STACKS.get(part, "docker-cluster", start)

    return docker_cluster


def runtime_cli(run_dir, *args: str, brokers: int | None = None, env: dict[str, str] | None = None,
                timeout: float = 900) -> subprocess.CompletedProcess:
    """`make <verb> PART=<part> [BROKERS=n]` as the Makefile runs it (`python -m labkit.runtime ...`), on a run
    directory of the caller's own: no BROKERS or broker list inherited (one bootstrap address is: the first broker's
    port, from which a cluster's others follow), BROKERS only when given, `env` added."""
    full = {k: v for k, v in os.environ.items()
            if k != "BROKERS" and not (k == "KAFKA_BOOTSTRAP" and "," in v)} | {"RUN_DIR": str(run_dir)}
    full |= env or {}
    if brokers is not None:
        full["BROKERS"] = str(brokers)
    return subprocess.run([sys.executable, "-m", "labkit.runtime", *args], env=full, cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, check=False)


def refused_in_one_line(out: subprocess.CompletedProcess) -> str:
    """The one line a refused `up` prints (it says to run `make down`), and no traceback."""
    assert out.returncode != 0, out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr, out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "make down" in lines[0], out.stderr
    return lines[0]


# -- Prometheus scrapes ------------------------------------------------------------------------------------------
PROMETHEUS_ACCEPT = "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"  # what Prometheus sends without OpenMetrics


class Scrape:
    """One `/metrics` answer parsed with prometheus_client's parser: sample values by name and labels."""

    def __init__(self, text: str):
        from prometheus_client.parser import text_string_to_metric_families

        self.families = {f.name: f for f in text_string_to_metric_families(text)}
        self.samples = [s for f in self.families.values() for s in f.samples]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples called `name` whose labels include `labels` (0 when there is none)."""
        return sum(s.value for s in self.samples if s.name == name and labels.items() <= s.labels.items())

    def label_values(self) -> set[str]:
        return {v for s in self.samples for v in s.labels.values()}


def scrape(client, accept: str = PROMETHEUS_ACCEPT) -> Scrape:
    """GET /metrics through a Flask test client, as Prometheus asks for it, parsed."""
    resp = client.get("/metrics", headers={"Accept": accept})
    assert resp.status_code == 200 and resp.mimetype == "text/plain", (resp.status_code, resp.get_data()[:200])
    return Scrape(resp.get_data(as_text=True))


def scrape_url(base_url: str, accept: str = PROMETHEUS_ACCEPT) -> Scrape:
    """GET <base_url>/metrics of a running service, as Prometheus asks for it, parsed."""
    import requests

    resp = requests.get(f"{base_url}/metrics", headers={"Accept": accept}, timeout=10)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/plain"), resp.text[:200]
    return Scrape(resp.text)


def place_orders(order_url: str, n: int, timeout: float = 15) -> list[str]:
    """POST `n` one-coffee orders to an asynchronous part's entry service, each answered 202; their ids."""
    import requests

    ids = []
    for _ in range(n):
        r = requests.post(f"{order_url}/order", json={"student_id": "m", "item": "coffee", "quantity": 1},
                          timeout=timeout)
        assert r.status_code == 202, (r.status_code, r.text[:200])
        ids.append(r.json()["order_id"])
    return ids


def wait_for_metric(base_url: str, name: str, wanted: float, timeout_s: float = 60.0, **labels: str) -> float:
    """Poll a service's /metrics until the sample reaches `wanted` (or the timeout); returns the last value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = scrape_url(base_url).value(name, **labels)
        if value >= wanted or time.monotonic() > deadline:
            return value
        time.sleep(0.3)


# -- the browser ring --------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def chromium():
    """One headless Chromium for the session's browser rings (labkit.browser); skipped, with the reason, where
    none is installed and none can be."""
    from .browser import Browser, BrowserUnavailable

    try:
        b = Browser()
        b.start()
    except BrowserUnavailable as exc:
        pytest.skip(f"browser ring: {exc}")
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def browser(chromium):
    """The session's Chromium on a blank page, its errors and requests forgotten; left blank after the test (a
    page left open would keep polling a stack that is stopped next)."""
    chromium.blank()
    yield chromium
    chromium.blank()


def reset_stock(settings: Settings) -> None:
    """Full stock again (the admin API of the tests' stacks): a ring that counts confirmed orders must not meet an
    item sold out by the rings before it."""
    import requests

    requests.post(f"{settings.inventory_url.rstrip('/')}/admin/reset", json={}, timeout=10).raise_for_status()


def dashboard_url(settings: Settings) -> str:
    host = "127.0.0.1" if settings.bind_host in ("0.0.0.0", "::") else settings.bind_host
    return f"http://{host}:{settings.dashboard_port}/"
