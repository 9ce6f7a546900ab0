"""`make test` removes only what tests created (scripts/run_tests.py, with its subprocess calls recorded, and the
fixtures' refusal to take ports a user's stack holds). Before, it ran `labkit.runtime down` and `docker compose
down -v` for every part on every run, even `PYTEST_ARGS="-m unit"`: a user's native stack stopped and the
volumes of their `make docker-up` gone."""
import importlib.util
import subprocess
import sys

import pytest

from common.settings import ROOT, Settings
from labkit.runtime.compose import Container
from labkit.testing import claim, foreign_stack, marker, project_of_tests

pytestmark = pytest.mark.unit


@pytest.fixture
def run_tests(monkeypatch):
    spec = importlib.util.spec_from_file_location("run_tests", ROOT / "scripts" / "run_tests.py")
    mod = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "run_tests", mod)  # its dataclass looks its module up
    spec.loader.exec_module(mod)
    return mod


def test_native_cleanup_selection(run_tests):
    # a user's part running before, without the mark: left alone; a marked one, or one come up during the run: ours
    assert run_tests.native_to_stop({"sync-rest"}, {"sync-rest"}, set()) == []
    assert run_tests.native_to_stop({"sync-rest"}, {"sync-rest", "async-rabbitmq"}, set()) == ["async-rabbitmq"]
    assert run_tests.native_to_stop(set(), {"streaming-kafka"}, {"streaming-kafka"}) == ["streaming-kafka"]
    assert run_tests.native_to_stop({"streaming-kafka"}, {"streaming-kafka"}, {"streaming-kafka"}) == ["streaming-kafka"]


def engine_answers(containers="", volumes=""):
    calls = []

    def run(cmd, **kw):
        calls.append(cmd)
        out = {"ps": containers, "volume": volumes}.get(cmd[1], "")
        return subprocess.CompletedProcess(cmd, 0, out, "")
    return run, calls


def test_docker_cleanup_removes_only_the_tests_projects(run_tests):
    run, calls = engine_answers(containers="foodlab-sync-rest\nfoodlab-test-async-rabbitmq\nother\n",
                                volumes="foodlab-streaming-kafka\nfoodlab-test-streaming-kafka\n")
    run_tests.docker_down(run)
    downs = [c for c in calls if c[:2] == ["docker", "compose"]]
    assert [c[c.index("-p") + 1] for c in downs] == ["foodlab-test-async-rabbitmq", "foodlab-test-streaming-kafka"]
    assert all("-v" in c for c in downs)


def test_no_engine_no_docker_cleanup(run_tests):
    def run(cmd, **kw):
        raise FileNotFoundError("docker")
    run_tests.docker_down(run)  # nothing to do, nothing raised


def test_make_test_with_unit_leaves_a_running_native_stack_and_the_users_compose_stack_alone(run_tests, monkeypatch):
    calls = []
    monkeypatch.setenv("PYTEST_ARGS", "-m unit")
    monkeypatch.setattr(run_tests, "native_state", lambda: ({"sync-rest"}, set()), raising=False)  # the user's `make up`
    monkeypatch.setattr(run_tests.subprocess, "call", lambda cmd, **kw: calls.append(cmd) or 0)

    def run(cmd, **kw):
        calls.append(cmd)
        out = "foodlab-sync-rest\n" if cmd[:2] in (["docker", "ps"], ["docker", "volume"]) else ""
        return subprocess.CompletedProcess(cmd, 0, out, "")
    monkeypatch.setattr(run_tests.subprocess, "run", run)
    assert run_tests.main() == 0
    pytest_call = [c for c in calls if c[1:3] == ["-m", "pytest"]]
    assert pytest_call and pytest_call[0][-2:] == ["-m", "unit"]
    assert not [c for c in calls if "down" in c], calls  # no `labkit.runtime down`, no `docker compose down`


def test_the_fixtures_leave_a_users_stack_alone_and_say_why(tmp_path):
    settings = Settings(run_dir=tmp_path)
    users = foreign_stack(settings, native_running=lambda p: p == "async-rabbitmq", containers=[])
    assert "native async-rabbitmq stack the tests did not start" in users and "make down" in users
    marker(settings, "async-rabbitmq").parent.mkdir(parents=True)
    marker(settings, "async-rabbitmq").touch()  # the tests' own: no reason to refuse
    assert foreign_stack(settings, native_running=lambda p: p == "async-rabbitmq", containers=[]) is None
    theirs = [Container(project_of_tests("sync-rest"), "order-service", "running", "Up", "127.0.0.1:6000->6000/tcp")]
    assert foreign_stack(settings, native_running=lambda p: False, containers=theirs) is None
    user = [Container("foodlab-sync-rest", "order-service", "running", "Up", "127.0.0.1:6000->6000/tcp")]
    said = foreign_stack(settings, native_running=lambda p: False, containers=user)
    assert "foodlab-sync-rest" in said and "make docker-down PART=sync-rest" in said


def test_claim_skips_when_a_users_stack_holds_the_ports(tmp_path, monkeypatch):
    import labkit.testing as testing
    settings = Settings(run_dir=tmp_path)
    monkeypatch.setattr(testing, "foreign_stack", lambda s: "a native sync-rest stack the tests did not start")
    with pytest.raises(pytest.skip.Exception, match="left alone: a native sync-rest"):
        claim(settings, "sync-rest")
    assert not marker(settings, "sync-rest").exists()
    monkeypatch.setattr(testing, "foreign_stack", lambda s: None)
    release = claim(settings, "sync-rest")
    assert marker(settings, "sync-rest").exists()
    assert claim(settings, "sync-rest") is not release  # a second claim does not own the mark
    release()
    assert not marker(settings, "sync-rest").exists()


def test_the_tests_compose_projects_are_not_the_users():
    from labkit.stack import DockerStack, project
    stack = DockerStack("sync-rest", env={}, project_name=project_of_tests("sync-rest"))
    assert stack.project == "foodlab-test-sync-rest" != project("sync-rest")
    assert stack.base[stack.base.index("--project-name") + 1] == "foodlab-test-sync-rest"
    assert sys.executable  # the script runs with this interpreter


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class FakePart:
    def __init__(self, name, running):
        self.name, self.running, self.downs = name, running, 0

    def running_services(self):
        return ["order-service"] if self.running else []

    def down(self, progress=print):
        self.downs += 1


def test_make_demo_refuses_to_stop_a_users_native_stack(monkeypatch, capsys):
    demo = load_script("demo")
    parts = [FakePart("sync-rest", True), FakePart("async-rabbitmq", False), FakePart("streaming-kafka", False)]
    monkeypatch.setattr(demo, "all_parts", lambda: parts)
    monkeypatch.setattr(demo.subprocess, "call", lambda *a, **k: pytest.fail("no step may run"))
    monkeypatch.setattr(demo, "Part", lambda *a, **k: pytest.fail("no part may be started"))
    assert demo.main([]) == 2
    assert [p.downs for p in parts] == [0, 0, 0]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "sync-rest is running" in err[0] and "make down" in err[0]


def test_make_docker_demo_refuses_to_down_v_a_users_compose_project(monkeypatch, capsys):
    demo = load_script("docker_demo")
    monkeypatch.setenv("PART", "sync-rest")
    monkeypatch.setattr(demo, "image_env", lambda: {})

    def engine(cmd, **kw):  # the user's `make docker-up` was taken down without -v: its volume is left
        out = "foodlab-sync-rest_inventory-data\n" if cmd[1] == "volume" else ""
        return subprocess.CompletedProcess(cmd, 0, out, "")
    monkeypatch.setattr(demo.subprocess, "run", engine)
    monkeypatch.setattr(demo, "DockerStack", lambda *a, **k: pytest.fail("no compose command may run"))
    assert demo.main() == 2
    err = capsys.readouterr().err
    assert "foodlab-sync-rest" in err and "make docker-down PART=<part> VOLUMES=1" in err


def test_the_engine_and_images_get_ready_in_the_background_only_when_docker_tests_run(run_tests, monkeypatch, tmp_path):
    started = []
    monkeypatch.setattr(run_tests.subprocess, "Popen", lambda cmd, **kw: started.append((cmd, kw)) or "run")
    assert run_tests.start_docker_prep(tmp_path, ["-m", "unit"], {}) == ({}, None)
    assert run_tests.start_docker_prep(tmp_path, ["-m", "not docker"], {}) == ({}, None)
    assert not started
    (tmp_path / "docker-prep.exit").write_text("0\n")  # a previous run's: removed, so nobody waits on it
    env, prep = run_tests.start_docker_prep(tmp_path, [], {})
    assert prep == "run"
    assert env == {"FOODLAB_DOCKER_PREP": str(tmp_path / "docker-prep.exit")}
    assert not (tmp_path / "docker-prep.exit").exists()
    (cmd, kw), = started
    assert cmd[:5] == ["bash", "-c", run_tests.PREP_LINE, "prep", str(ROOT / "docker" / "images.sh")]
    assert cmd[5] == env["FOODLAB_DOCKER_PREP"] and "find_chromium()" in cmd[-1]


def test_the_exit_file_is_written_when_the_background_run_ends(run_tests, tmp_path):
    """The shell line start_docker_prep runs: chromium first (its failure does not stop the rest), then the
    script, whose exit code lands in the file, atomically."""
    script = tmp_path / "images.sh"
    script.write_text("#!/bin/sh\nexit 3\n")
    script.chmod(0o755)
    done = tmp_path / "docker-prep.exit"
    out = subprocess.run(["bash", "-c", run_tests.PREP_LINE, "prep", str(script), str(done), "sh", "-c", "exit 1"],
                         check=True, capture_output=True, text=True).stdout
    assert done.read_text() == "3\n"
    assert "chromium: not installed" in out


def test_the_docker_ring_waits_for_the_background_run(monkeypatch, tmp_path):
    from labkit.testing import wait_docker_prep
    monkeypatch.delenv("FOODLAB_DOCKER_PREP", raising=False)
    wait_docker_prep(timeout=0)  # not started by make test: nothing to wait for
    monkeypatch.setenv("FOODLAB_DOCKER_PREP", str(tmp_path / "docker-prep.exit"))
    with pytest.raises(TimeoutError):
        wait_docker_prep(timeout=0)
    (tmp_path / "docker-prep.exit").write_text("0\n")
    wait_docker_prep(timeout=0)


class _Item:
    def __init__(self, rel: str, docker: bool = False):
        self.path = ROOT / rel
        self.docker = docker

    def get_closest_marker(self, name):
        return object() if name == "docker" and self.docker else None


def test_the_rings_that_need_no_engine_run_first_then_the_docker_ones_part_by_part():
    from labkit.testing import pytest_collection_modifyitems
    items = [_Item("common/tests/unit/test_a.py"), _Item("tests/docker/test_images.py", docker=True),
             _Item("tests/test_compose.py"), _Item("sync-rest/tests/docker/test_docker_sync.py", docker=True),
             _Item("sync-rest/tests/test_sync.py", docker=True), _Item("sync-rest/tests/test_sync.py"),
             _Item("async-rabbitmq/tests/docker/test_docker_async_cluster.py", docker=True),
             _Item("async-rabbitmq/tests/test_async.py")]
    pytest_collection_modifyitems(items)
    assert [(i.path.relative_to(ROOT).as_posix(), i.docker) for i in items] == [
        ("common/tests/unit/test_a.py", False), ("tests/test_compose.py", False),
        ("sync-rest/tests/test_sync.py", False), ("async-rabbitmq/tests/test_async.py", False),
        ("tests/docker/test_images.py", True),
        ("sync-rest/tests/test_sync.py", True), ("sync-rest/tests/docker/test_docker_sync.py", True),
        ("async-rabbitmq/tests/docker/test_docker_async_cluster.py", True)]


def test_a_background_run_still_going_at_the_end_is_stopped(run_tests):
    prep = subprocess.Popen(["sleep", "60"])
    run_tests.end_docker_prep(prep)
    assert prep.poll() is not None
    run_tests.end_docker_prep(None)  # none started: nothing to do


EPHEMERAL_START = 32768  # Linux's default net.ipv4.ip_local_port_range is 32768-60999


def _part_c_ports(settings: Settings) -> set[int]:
    """Every port native Part C of these settings listens on: services, the scale-out instance, dashboard,
    Prometheus, every broker and its controller (as the runtime derives them)."""
    from streaming_kafka.lab.broker.native import controller_port

    s = settings
    brokers = range(1, s.cluster_size + 1)
    return {s.order_port, s.inventory_port, s.inventory_port + 10, s.notification_port, s.dashboard_port,
            s.prometheus_port, *(port for _, port in s.kafka_nodes()), *(controller_port(s, n) for n in brokers)}


def _ports(settings: Settings) -> set[int]:
    """Every port a native part of these settings listens on: Part C's, and every RabbitMQ node's (as the runtime
    derives them) and epmd's."""
    from async_rabbitmq.lab.broker.native import prometheus_port
    from async_rabbitmq.messaging.nodes import nodes

    s = settings
    rabbit = {p for n in nodes(s) for p in (n.amqp_port, n.mgmt_port, n.dist_port, prometheus_port(s, n))}
    return _part_c_ports(s) | rabbit | {s.rabbitmq_epmd_port}


@pytest.mark.parametrize("brokers", ["1", "3"])
def test_the_second_lane_shares_no_port_and_no_folder_with_the_first(run_tests, monkeypatch, brokers):
    """It runs beside the first: a shared port would be taken twice, a shared run directory one supervisor. Its
    Kafka clusters (BROKERS=3) included, against the first lane's native stacks and clusters (Part B's, and the
    defaults of every part) and every compose stack."""
    from labkit.stack import COMPOSE_CLUSTER, COMPOSE_PORTS

    rest = _ports(Settings(brokers=1)) | _ports(Settings(brokers=3))
    cluster = {int(b.rpartition(":")[2]) for b in COMPOSE_CLUSTER["kafka_bootstrap"].split(",")}
    published = set(COMPOSE_PORTS.values()) | {6003, 6011, 15679, 29093} | cluster | {5682, 5692, 15682, 15692}
    for run in run_tests.lane_runs([], {}):
        for name, value in run.env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("BROKERS", brokers)
        lane = Settings()
        assert not _part_c_ports(lane) & (rest | published), run.title
        # not where the kernel picks the local ports of outgoing connections: a restarted broker must find its port
        assert max(_part_c_ports(lane) | rest | published) < EPHEMERAL_START
        assert lane.run_dir == run_tests.LANE_DIR and lane.metrics_dir.is_relative_to(lane.run_dir)
        assert not lane.run_dir.is_relative_to(Settings(run_dir=ROOT / ".run").run_dir / "streaming-kafka")


def test_the_second_lane_takes_parts_a_and_c_natively_and_the_first_the_rest(run_tests):
    """The first lane's `-m` keeps the user's expression and leaves out the second's tests; the second's keeps it
    too; the second client's run follows when Part C's integration ring is selected and the session is not on that
    client already."""
    extra = ["-x", "-m", "not docker", "--durations=5"]
    rest = run_tests.and_option(extra, "-m", f"not ({run_tests.LANE_MARKS})")
    assert rest == ["-x", "--durations=5", "-m", f"(not docker) and (not ({run_tests.LANE_MARKS}))"]
    first, second = run_tests.lane_runs(extra, {})
    assert first.args[-4:] == ["-m", f"(not docker) and ({run_tests.LANE_MARKS})", "sync-rest", "streaming-kafka"]
    assert "kafka-python-ng" in first.title and "KAFKA_CLIENT" not in first.env
    assert second.env["KAFKA_CLIENT"] == "confluent" and first.env["RUN_DIR"] == second.env["RUN_DIR"]
    # the user's other arguments too; their -k with the second client's own
    _, second = run_tests.lane_runs(["-k", "replay", "--co"], {})
    assert second.args[:3] == ["--co", "-k", f"(replay) and ({run_tests.SECOND_PASS_SKIPS})"]
    assert [r.name for r in run_tests.lane_runs([], {"KAFKA_CLIENT": "confluent"})] == ["lane"]
    assert [r.name for r in run_tests.lane_runs(["-m", "sync_rest"], {})] == ["lane"]
    # whether the lane runs at all: the user's expression keeps Part C's native integration tests
    assert run_tests.selects(extra, {"streaming_kafka", "integration"})
    assert not run_tests.selects(["-m", "unit or service"], {"streaming_kafka", "integration"})
    assert not run_tests.selects(["-m", "docker"], {"streaming_kafka", "integration"})
    assert run_tests.selects([], {"docker"}) and not run_tests.selects(["-m", "not docker"], {"docker"})


def test_every_test_carries_its_parts_marker(pytestconfig):
    """`-m streaming_kafka` selects Part C's tests: the second lane's selection rests on it."""
    from labkit.testing import pytest_itemcollected

    class Item:
        def __init__(self, path):
            self.path, self.marks = path, []

        def add_marker(self, mark):
            self.marks.append(mark)

    for folder, mark in [("sync-rest", "sync_rest"), ("async-rabbitmq", "async_rabbitmq"),
                         ("streaming-kafka", "streaming_kafka")]:
        item = Item(ROOT / folder / "tests" / "integration" / "test_x.py")
        pytest_itemcollected(item)
        assert item.marks == [mark] and f"{mark}: " in "\n".join(pytestconfig.getini("markers"))
    for elsewhere in (ROOT / "labkit" / "tests" / "test_x.py", ROOT.parent / "test_x.py"):
        item = Item(elsewhere)
        pytest_itemcollected(item)
        assert item.marks == []


def test_the_second_lane_runs_in_turn_and_stops_its_stacks_even_when_stopped(run_tests, monkeypatch, tmp_path):
    """Each run after a `down` of the lane's parts, and one more `down` at the end: also when the first lane was
    interrupted and `stop()` ended the run under way (the rest are skipped)."""
    import threading

    events: list[str] = []
    started = threading.Event()

    class FakeRun:
        def __init__(self, cmd, **kw):
            self.name, self.code, self.ended = cmd[-1], None, threading.Event()
            events.append(f"run {self.name}")
            started.set()

        def wait(self):
            self.ended.wait(10)
            return self.code

        def poll(self):
            return self.code

        def terminate(self):
            self.code = -15
            self.ended.set()

    monkeypatch.setattr(run_tests, "stop_native", lambda parts, env: events.append(f"down {env['RUN_DIR']}"))
    monkeypatch.setattr(run_tests.subprocess, "Popen", FakeRun)
    runs = [run_tests.LaneRun(name, name, [name], {"RUN_DIR": "lane"}) for name in ("first", "second")]
    lane = run_tests.Lane(runs, tmp_path)
    lane.start()
    assert started.wait(10)
    lane.stop()
    lane.join(10)
    assert not lane.is_alive()
    assert events[:2] == ["down lane", "run first"] and events[-1] == "down lane" and "run second" not in events
    assert runs[0].code == -15 and runs[1].code is None
    assert run_tests.end_lane(lane, 0.0, interrupted=True) == -15
