"""A scenario script brings up the whole part (as `make up` does) before its scenarios, and its evidence says what
actually ran: which services, which this run started and which it found running. Before, `python
sync-rest/tests/test_sync.py` with nothing up started inventory and order only, and every order's notification
failed under a header that said `make up`. Supervisord and the scripts' scenarios are replaced by fakes."""
import contextlib
import importlib

import pytest

from common.settings import Settings
from labkit.runtime.spec import Service
from labkit.stack import NativeStack

pytestmark = pytest.mark.unit

SERVICES = ["notification-service", "inventory-service", "order-service"]


class FakePart:
    """Part as NativeStack drives it: `up` starts every declared service that is not running."""

    def __init__(self, running):
        self.running = list(running)
        self.services = [Service(n, ["x"]) for n in SERVICES] + [Service("extra", ["x"], profile="extra")]

    def running_services(self):
        return list(self.running)

    def up(self, env=None, progress=print):
        self.running += [s.name for s in self.services if not s.profile and s.name not in self.running]


def native(running) -> NativeStack:
    stack = NativeStack("sync-rest", Settings())
    stack._part = FakePart(running)
    return stack


def test_describe_names_a_half_started_part():
    text = native(["inventory-service", "order-service"]).describe()
    assert "inventory-service, order-service running" in text and "NOT running: notification-service" in text


def test_ensure_up_starts_the_rest_and_the_evidence_says_what_was_started_and_what_found():
    stack = native(["inventory-service"])
    stack.ensure_up()
    text = stack.describe()
    assert "NOT running" not in text
    assert "started by this run: notification-service, order-service; found running: inventory-service" in text


class FakeStack:
    runtime = "native"

    def __init__(self):
        self.settings = Settings()
        self.calls = []

    def ensure_up(self):
        self.calls.append("ensure_up")

    @contextlib.contextmanager
    def admin_api(self):
        self.calls.append("admin_api")
        yield

    def describe(self):
        return "the runtime as described"


@pytest.mark.parametrize("module", ["sync_rest.lab.evidence.scenarios", "async_rabbitmq.lab.evidence.scenarios"])
def test_the_scenario_script_brings_the_whole_part_up_before_its_scenarios(module, monkeypatch, tmp_path):
    mod = importlib.import_module(module)
    stack = FakeStack()
    monkeypatch.setattr(mod, "get_stack", lambda *a, **k: stack)
    monkeypatch.setattr(mod.sc, "run_all", lambda *a, **k: stack.calls.append("scenarios"))
    monkeypatch.setattr(mod, "render", lambda results, runtime, *a: runtime)
    written = {}
    monkeypatch.setattr(mod.evidence, "write", lambda path, text: written.setdefault(path, text))
    assert mod.main(["--output", str(tmp_path / "out.txt")]) == 0
    assert stack.calls.index("ensure_up") < stack.calls.index("scenarios")
    assert written == {tmp_path / "out.txt": "the runtime as described"}


def test_a_failed_compose_command_is_a_one_line_error_of_the_script(monkeypatch, capsys):
    """`--runtime docker` where no engine or no compose plugin answers: one line on stderr, exit 1, no traceback."""
    import subprocess

    from common.errors import exit_status
    from labkit import stack as stack_mod
    from labkit.stack import DockerStack

    def fails(cmd, **kw):
        raise subprocess.CalledProcessError(1, cmd)
    monkeypatch.setattr(stack_mod.subprocess, "run", fails)
    assert exit_status(lambda: DockerStack("sync-rest", env={}).up()) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "docker compose up -d --build --wait" in err[0] and "make docker-engine" in err[0]
