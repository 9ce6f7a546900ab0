"""`make ps` sees both runtimes, a port clash names the compose stack that holds the port and what frees it, and a
failed `up` takes back what it started. The engine is a recorded `docker ps` answer; nothing is started."""
import subprocess

import pytest

from common.errors import StackError
from common.settings import Settings
from labkit.runtime import compose
from labkit.runtime.__main__ import cmd_ps
from labkit.runtime.control import Part, Row

pytestmark = pytest.mark.unit

DOCKER_PS = ("foodlab-sync-rest\tnotification-service\trunning\tUp 2 minutes (healthy)\t127.0.0.1:6002->6002/tcp\n"
             "foodlab-sync-rest\torder-service\trunning\tUp 2 minutes (healthy)\t127.0.0.1:6000->6000/tcp\n"
             "someone-else\tweb\trunning\tUp 1 hour\t0.0.0.0:8080->80/tcp\n")


def engine(stdout=DOCKER_PS, returncode=0, calls=None):
    def run(cmd, **kw):
        if calls is not None:
            calls.append((cmd, kw))
        return subprocess.CompletedProcess(cmd, returncode, stdout, "")
    return run


def test_containers_are_the_labs_projects_only_and_asked_with_a_timeout():
    calls = []
    found = compose.containers(engine(calls=calls))
    assert [(c.project, c.service, c.published) for c in found] == [
        ("foodlab-sync-rest", "notification-service", {6002}), ("foodlab-sync-rest", "order-service", {6000})]
    assert calls[0][0][:2] == ["docker", "ps"] and calls[0][1]["timeout"] <= 5


@pytest.mark.parametrize("run", [engine(returncode=1),
                                 lambda *a, **k: (_ for _ in ()).throw(FileNotFoundError("docker")),
                                 lambda *a, **k: (_ for _ in ()).throw(subprocess.TimeoutExpired("docker", 3))])
def test_no_engine_no_docker_or_a_slow_one_is_no_containers(run):
    assert compose.containers(run) == []


class FakePart:
    def __init__(self, rows):
        self._rows = rows

    def rows(self):
        return self._rows


def test_ps_shows_a_running_compose_stack_when_no_native_part_runs(capsys):
    assert cmd_ps(None, parts=lambda: [FakePart([])], compose=lambda: compose.containers(engine())) == 0
    out = capsys.readouterr().out
    assert "nothing is running" not in out
    assert "foodlab-sync-rest" in out and "notification-service" in out and "127.0.0.1:6002->6002/tcp" in out
    assert "make docker-down PART=sync-rest" in out


def test_ps_shows_both_runtimes(capsys):
    native = FakePart([Row("async-rabbitmq", "rabbitmq", "RUNNING", 42, 5672, "pid 42")])
    cmd_ps(None, parts=lambda: [native], compose=lambda: compose.containers(engine()))
    out = capsys.readouterr().out
    assert "async-rabbitmq" in out and "rabbitmq" in out and "foodlab-sync-rest" in out


def test_ps_with_nothing_anywhere_says_so(capsys):
    cmd_ps(None, parts=lambda: [FakePart([])], compose=lambda: [])
    assert capsys.readouterr().out.startswith("nothing is running")


def test_the_port_holder_names_the_compose_stack_and_the_command_that_frees_it():
    found = compose.containers(engine())
    said = compose.port_holder(6002, found)
    assert "foodlab-sync-rest" in said and "notification-service" in said and "make docker-down PART=sync-rest" in said
    assert compose.port_holder(6001, found) is None
    test_stack = [compose.Container("foodlab-test-async-rabbitmq", "rabbitmq", "running", "Up", "127.0.0.1:5672->5672/tcp")]
    assert "-p foodlab-test-async-rabbitmq down -v" in compose.port_holder(5672, test_stack)


@pytest.fixture
def part(tmp_path, monkeypatch):
    p = Part("sync-rest", Settings(run_dir=tmp_path))
    p.undone = []
    monkeypatch.setattr(p, "down", lambda progress=print: p.undone.append(("down",)))
    monkeypatch.setattr(p, "stop_together", lambda names, progress=print: p.undone.append(("stop", names)))
    return p


def failing_up(after: list[str]):
    def _up(env, progress, started):
        started.extend(after)
        raise StackError("cannot start sync-rest/order-service: port 6000 is already in use")
    return _up


def test_a_failed_up_of_a_part_that_was_down_takes_it_all_down(part, monkeypatch):
    monkeypatch.setattr(part, "alive", lambda: False)
    monkeypatch.setattr(part, "_up", failing_up(["notification-service", "inventory-service", "order-service"]))
    with pytest.raises(StackError):
        part.up()
    assert part.undone == [("down",)]


def test_a_failed_up_of_a_running_part_stops_only_what_it_started(part, monkeypatch):
    monkeypatch.setattr(part, "alive", lambda: True)
    monkeypatch.setattr(part, "_up", failing_up(["inventory-service", "order-service"]))
    with pytest.raises(StackError):
        part.up()
    assert part.undone == [("stop", ["order-service", "inventory-service"])]
