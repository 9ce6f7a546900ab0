"""Fixtures for Part C's rings: settings, fakes, the natively started or compose stack."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from common.settings import ROOT, Settings
from labkit.stack import NativeStack
from labkit.testing import STACKS, claim, docker_cluster_fixture, docker_stack_fixture, stack_fixture
from streaming_kafka.analytics_consumer.metrics import render
from streaming_kafka.lab.broker.native import wipe

# The docker ring's analytics writes its metrics file here, never over the committed evidence.
DOCKER_TEST_METRICS = ROOT / ".run" / "streaming-kafka" / "docker-test-metrics"
DOCKER_TEST_METRICS.mkdir(parents=True, exist_ok=True)
docker_stack = docker_stack_fixture("streaming-kafka", env={"METRICS_HOST_DIR": str(DOCKER_TEST_METRICS)})
docker_cluster = docker_cluster_fixture("streaming-kafka", env={"METRICS_HOST_DIR": str(DOCKER_TEST_METRICS)})
stack = stack_fixture()  # the scenario ring's stack: native, then the compose stack (marked docker)


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

    def send(self, topic, key=None, value=None, headers=None, partition=None):
        if self.refuse:
            raise self.refuse
        self.sent.append((topic, key, value, headers))
        return FakeFuture(self.fail if len(self.sent) > self.fail_after else None)

    def flush(self, timeout=None):
        pass

    def close(self, timeout=None):
        pass


class StubAnalyticsWorker:
    """What the analytics app reads of its worker: the state, its lock, `joined`, the file path, a snapshot."""

    def __init__(self, state):
        self.state = state
        self.lock = threading.Lock()
        self.joined = threading.Event()
        self.path = Path("/nonexistent/metrics_output.json")

    def snapshot(self):
        return render(self.state.metrics())


@pytest.fixture
def analytics_worker_class() -> type[StubAnalyticsWorker]:
    return StubAnalyticsWorker


@pytest.fixture
def fake_producer() -> FakeProducer:
    return FakeProducer()


@pytest.fixture
def tmp_settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path, log_format="text", metrics_dir=tmp_path / "metrics")


@pytest.fixture(scope="module")
def native_stack(settings):
    """The whole part started natively (as `make up PART=streaming-kafka`), from an empty broker when we start
    it; analytics writes its file under .run so tests never overwrite the committed evidence. Reused (and left
    running) when this session already has it up; a user's stack is left alone (the tests are skipped)."""

    def start():
        release = claim(settings, "streaming-kafka")
        stack = NativeStack("streaming-kafka", settings, admin=True)
        started = not stack._part.running_services()
        env = pytest.MonkeyPatch()  # undone when the stack stops: no METRICS_DIR leaks into later tests
        if started:
            wipe(settings)
            env.setenv("METRICS_DIR", str(settings.part_dir("streaming-kafka") / "test-metrics"))
            stack.up()

        def stop():
            if started:
                stack.down()
                release()
            env.undo()

        return stack, stop

    return STACKS.get("streaming-kafka", "native", start)


@pytest.fixture
def producer_class() -> type[FakeProducer]:
    return FakeProducer
