"""Fixtures for Part C's rings: settings, fakes, the natively started or compose stack."""
from __future__ import annotations

from pathlib import Path

import pytest


from common.settings import Settings
from common.stack import NativeStack, docker_client_settings
from common.testing import docker_stack_fixture, runtime_is_docker, stack_fixture

PART_DIR = Path(__file__).resolve().parents[1]
ROOT = PART_DIR.parent

collect_ignore_glob = [] if runtime_is_docker() else ["docker/*"]  # the docker ring's own checks
# The docker ring's analytics writes its metrics file here, never over the committed evidence.
DOCKER_TEST_METRICS = ROOT / ".run" / "streaming-kafka" / "docker-test-metrics"
DOCKER_TEST_METRICS.mkdir(parents=True, exist_ok=True)
docker_stack = docker_stack_fixture("streaming-kafka", env={"METRICS_HOST_DIR": str(DOCKER_TEST_METRICS)})
stack = stack_fixture()  # the scenario ring's stack: native, or the compose stack with STACK_RUNTIME=docker


class FakeFuture:
    def __init__(self, error: Exception | None = None):
        self.error = error
        self.is_done = error is None  # a failing future here never completes (a timeout)

    def get(self, timeout=None):
        if self.error:
            raise self.error
        return None

    def succeeded(self):
        return self.error is None


class FakeProducer:
    """Records what would be sent; `fail` makes every send's future raise it (no acknowledgement), from the
    `fail_after`-th send on; `refuse` makes send() itself raise it (the record never leaves)."""

    def __init__(self, fail: Exception | None = None, fail_after: int = 0, refuse: Exception | None = None):
        self.sent: list[tuple] = []
        self.fail = fail
        self.fail_after = fail_after
        self.refuse = refuse

    def send(self, topic, key=None, value=None, headers=None):
        if self.refuse:
            raise self.refuse
        self.sent.append((topic, key, value, headers))
        return FakeFuture(self.fail if len(self.sent) > self.fail_after else None)

    def flush(self, timeout=None):
        pass

    def close(self, timeout=None):
        pass


@pytest.fixture
def fake_producer() -> FakeProducer:
    return FakeProducer()


@pytest.fixture(scope="session")
def settings() -> Settings:
    s = Settings()
    return docker_client_settings(s) if s.stack_runtime == "docker" else s


@pytest.fixture
def tmp_settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path, log_format="text", metrics_dir=tmp_path / "metrics")


@pytest.fixture(scope="session")
def native_stack(settings):
    """The whole part started natively (as `make up PART=streaming-kafka`), from an empty broker when we start
    it; analytics writes its file under .run so tests never overwrite the committed evidence. Reused (and left
    running) when it is already up."""
    from streaming_kafka.broker.native import wipe

    stack = NativeStack("streaming-kafka", settings, admin=True)
    started = not stack._part.running_services()
    env = pytest.MonkeyPatch()  # restored at the end of the session: no METRICS_DIR leaks into later tests
    if started:
        wipe(settings)
        env.setenv("METRICS_DIR", str(settings.part_dir("streaming-kafka") / "test-metrics"))
        stack.up()
    yield stack
    if started:
        stack.down()
    env.undo()


@pytest.fixture
def producer_class() -> type[FakeProducer]:
    return FakeProducer
