"""The scenario interface: the runtime is forced by settings or detected (a running compose stack of the part),
and the Docker flavour issues the compose commands a user with Docker would type (checked without an engine by
recording them; the docker ring runs them for real)."""
import signal
import subprocess
from types import SimpleNamespace

import pytest

from common.faults import without_faults
from common.settings import ROOT, Settings
from labkit import stack as stack_mod
from labkit.stack import DockerStack, NativeStack, docker_client_settings, get_stack

pytestmark = pytest.mark.unit


def test_runtime_is_forced_by_settings_or_argument(monkeypatch):
    monkeypatch.setattr(stack_mod, "compose_running", lambda part: pytest.fail("no detection when forced"))
    said = []
    assert isinstance(get_stack("sync-rest", settings=Settings(stack_runtime="docker"), env={},
                                announce=said.append), DockerStack)
    assert isinstance(get_stack("sync-rest", "native", announce=said.append), NativeStack)
    assert said == ["[sync-rest] runtime: docker (forced by --runtime or STACK_RUNTIME)",
                    "[sync-rest] runtime: native (forced by --runtime or STACK_RUNTIME)"]


@pytest.mark.parametrize("running, cls", [(True, DockerStack), (False, NativeStack)])
def test_auto_drives_a_running_compose_stack_else_native(monkeypatch, running, cls):
    seen = []
    monkeypatch.setattr(stack_mod, "compose_running", lambda part: seen.append(part) or running)
    monkeypatch.setattr(stack_mod, "image_env", lambda: {})
    said = []
    stack = get_stack("async-rabbitmq", settings=Settings(stack_runtime="auto"), announce=said.append)
    assert isinstance(stack, cls) and seen == ["async-rabbitmq"]
    assert said[0].startswith(f"[async-rabbitmq] runtime: {stack.runtime} (")
    assert ("a compose stack of async-rabbitmq is running" in said[0]) is running


def test_compose_running_asks_the_engine_for_the_project(monkeypatch):
    calls = []

    def fake_run(cmd, **kw):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, stdout="3f2a\n")

    monkeypatch.setattr(stack_mod.shutil, "which", lambda name: "/usr/bin/docker")
    monkeypatch.setattr(subprocess, "run", fake_run)
    assert stack_mod.compose_running("streaming-kafka")
    assert calls == [["docker", "ps", "-q", "--filter", "label=com.docker.compose.project=foodlab-streaming-kafka"]]
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: subprocess.CompletedProcess(cmd, 0, stdout=""))
    assert not stack_mod.compose_running("streaming-kafka")
    monkeypatch.setattr(stack_mod.shutil, "which", lambda name: None)
    assert not stack_mod.compose_running("streaming-kafka")


def test_faults_are_dropped_unless_asked_for():
    env = {"PATH": "/bin", "FORCE_FAILURE": "true", "INVENTORY_DELAY_MS": "5"}
    assert without_faults(env) == {"PATH": "/bin"}


def test_docker_client_settings_use_the_published_ports_and_the_compose_account(monkeypatch):
    monkeypatch.setenv("ORDER_PORT", "7100")  # another helper's native port set: not what compose publishes
    monkeypatch.delenv("RABBITMQ_USER", raising=False)
    monkeypatch.delenv("RABBITMQ_PASSWORD", raising=False)
    s = docker_client_settings(Settings())
    assert (s.order_url, s.inventory_url, s.notification_url) == (
        "http://127.0.0.1:6000", "http://127.0.0.1:6001", "http://127.0.0.1:6002")
    assert (s.rabbitmq_port, s.rabbitmq_mgmt_port, s.kafka_bootstrap) == (5672, 15672, "127.0.0.1:29092")
    assert (s.rabbitmq_user, s.rabbitmq_password) == ("foodlab", "foodlab-local") != ("guest", "guest")
    monkeypatch.setenv("RABBITMQ_USER", "alice")  # compose reads the same variable
    assert docker_client_settings(Settings()).rabbitmq_user == "alice"


def test_image_env_prefers_the_callers_then_the_local_stand_in_only_when_the_official_is_missing(monkeypatch):
    present = {"foodlab/python-base:3.11-bookworm", "rabbitmq:3.13.7-management", "foodlab/kafka:3.9.1-debian"}
    monkeypatch.setattr(stack_mod, "_has_image", lambda name: name in present)
    monkeypatch.setattr(stack_mod, "read_env_file", lambda path: {
        "PYTHON_BASE_IMAGE": "foodlab/python-base:3.11-bookworm", "RABBITMQ_IMAGE": "foodlab/rabbitmq:x",
        "KAFKA_IMAGE": "foodlab/kafka:3.9.1-debian"})
    assert stack_mod.image_env({"KAFKA_IMAGE": "mine:1"}) == {
        "PYTHON_BASE_IMAGE": "foodlab/python-base:3.11-bookworm", "KAFKA_IMAGE": "mine:1"}


def test_docker_stack_commands(monkeypatch):
    calls = []

    def fake_run(cmd, env=None, **kw):
        calls.append((cmd, env))
        out = "4242\n" if cmd[:2] == ["docker", "inspect"] else "c0ffee\n" if "ps" in cmd else "log line\n"
        return subprocess.CompletedProcess(cmd, 0, stdout=out)

    monkeypatch.setattr(subprocess, "run", fake_run)
    stopped = []

    class FakeProcess:  # the container's main process as the host sees it (never signal a real one here)
        def __init__(self, pid):
            self.pid = pid

        def create_time(self):
            return 1.0

        def children(self, recursive=False):
            return []

        def send_signal(self, sig):
            stopped.append((self.pid, sig))

    monkeypatch.setattr(stack_mod.psutil, "Process", FakeProcess)
    monkeypatch.setattr(stack_mod.psutil, "pid_exists", lambda pid: True)
    polled = []
    monkeypatch.setattr(stack_mod, "wait_healthy", lambda url, timeout: polled.append(url))
    monkeypatch.setenv("FORCE_FAILURE", "true")  # left over in the caller's shell: must not leak
    stack = DockerStack("sync-rest", admin=True, env={"PYTHON_BASE_IMAGE": "local/base"})
    stack.up()
    stack.start("inventory-service", env={"INVENTORY_DELAY_MS": "2000"})
    assert polled == ["http://127.0.0.1:6001"]  # ready when its /health answers on the published port
    stack.start("rabbitmq")  # no /health: compose waits for its healthcheck
    stack.stop("inventory-service")
    stack.kill("inventory-service")
    assert stack.logs("order-service", 5) == "log line\n"
    assert stack.pid("inventory-service") == 4242
    stack.down()
    base = ["docker", "compose", "--project-directory", str(ROOT / "sync-rest"), "-f",
            str(ROOT / "sync-rest" / "docker-compose.yml")]
    compose = [c for c, _ in calls if c[:2] == ["docker", "compose"] and "ps" not in c]
    assert all(c[:len(base)] == base for c in compose)
    assert stopped == [(4242, signal.SIGSTOP)]  # frozen at once from the host, then killed by the engine
    every = ["--profile", "*"]  # a named service may be behind a profile (inventory-consumer-2)
    assert [c[len(base):] for c in compose] == [
        ["up", "-d", "--build", "--wait"],
        [*every, "up", "-d", "--no-deps", "--force-recreate", "inventory-service"],
        [*every, "up", "-d", "--no-deps", "--force-recreate", "--wait", "rabbitmq"],
        [*every, "stop", "inventory-service"], [*every, "kill", "-s", "SIGKILL", "inventory-service"],
        [*every, "logs", "--no-color", "--no-log-prefix", "--tail", "5", "order-service"],
        [*every, "down", "--remove-orphans", "-v"]]
    assert ["docker", "inspect", "-f", "{{.State.Pid}}", "c0ffee"] in [c for c, _ in calls]
    start_env = next(env for c, env in calls if "inventory-service" in c and "up" in c)
    assert start_env["INVENTORY_DELAY_MS"] == "2000" and "FORCE_FAILURE" not in start_env
    assert all(env["ADMIN_API"] == "true" and env["PYTHON_BASE_IMAGE"] == "local/base"
               for c, env in calls if c[:2] == ["docker", "compose"])


def test_admin_is_off_unless_the_stack_asks_for_it(monkeypatch):
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, env=None, **kw: calls.append(env) or
                        subprocess.CompletedProcess(cmd, 0, stdout=""))
    monkeypatch.delenv("ADMIN_API", raising=False)
    monkeypatch.setattr(stack_mod, "wait_healthy", lambda url, timeout: None)
    DockerStack("sync-rest", env={}).start("inventory-service")
    assert "ADMIN_API" not in calls[-1]
    started = []
    native = NativeStack("sync-rest", Settings(), admin=True)
    monkeypatch.setattr(native._part, "start", lambda name, env=None, progress=None: started.append((name, env)))
    native.start("inventory-service")
    assert started[0][0] == "inventory-service" and started[0][1]["ADMIN_API"] == "true"


def test_cluster_stack_names_both_files_and_execs_in_a_broker(monkeypatch):
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, env=None, **kw: calls.append((cmd, kw)) or
                        subprocess.CompletedProcess(cmd, 3, stdout="", stderr="not running"))
    stack = DockerStack("async-rabbitmq", Settings(), env={}, cluster=True)
    assert stack.settings.cluster_size == 3 and stack.settings.kafka_bootstrap.count(",") == 2
    assert stack.settings.rabbitmq_nodes.startswith("rabbit@rabbitmq=127.0.0.1:5672:15672,")
    out = stack.exec("rabbitmq-2", "rabbitmqctl", "list_queues", timeout=7)
    assert out.returncode == 3  # the caller reads it: exec never raises
    part = ROOT / "async-rabbitmq"
    assert calls[0][0] == ["docker", "compose", "--project-directory", str(part), "-f", str(part / "docker-compose.yml"),
                           "-f", str(part / "docker-compose.cluster.yml"), "exec", "-T", "rabbitmq-2", "rabbitmqctl",
                           "list_queues"]
    assert calls[0][1]["timeout"] == 7 and calls[0][1]["check"] is False
    assert "docker-compose.yml + async-rabbitmq/docker-compose.cluster.yml" in stack.describe()
    single = DockerStack("async-rabbitmq", Settings(cluster_size=3), env={})
    assert single.settings.cluster_size == 1 and single.files == [part / "docker-compose.yml"]


def test_evidence_commit_ignores_the_outputs_a_run_writes(tmp_path):
    from labkit.evidence import commit

    def git(*args):
        subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    for rel in ("sync-rest/tests/test_output.txt", "docs/comparison.md", "docs/img/latency.png", "common/core.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("v1\n")
    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "init")
    clean = commit(tmp_path)
    assert clean and "+" not in clean and clean != "unknown"
    for rel in ("sync-rest/tests/test_output.txt", "docs/comparison.md", "docs/img/latency.png"):
        (tmp_path / rel).write_text("v2\n")
    assert commit(tmp_path) == clean  # a demo rewriting its evidence is still running the committed code
    (tmp_path / "common/core.py").write_text("v2\n")
    assert commit(tmp_path) == clean + "+changes"


def test_fault_env_names_each_switch_by_its_variable_and_refuses_others():
    from common.faults import FAULT_VARS, fault_env
    from common.settings import Settings

    env = fault_env(force_failure=True, inventory_delay_ms=2000)
    assert env == {"FORCE_FAILURE": "true", "INVENTORY_DELAY_MS": "2000"}
    assert set(env) <= set(FAULT_VARS)
    parsed = Settings(**{k.lower(): v for k, v in env.items()})  # what a service started with it reads
    assert parsed.force_failure is True and parsed.inventory_delay_ms == 2000
    with pytest.raises(ValueError, match="not a fault switch: order_port"):
        fault_env(order_port=1)


def test_run_steps_runs_in_order_announces_times_and_lets_a_step_read_an_earlier_one():
    from labkit.stack import run_steps

    said, results = [], {}
    steps = [("a", "first", lambda: 1), ("b", None, lambda: results["a"] + 1), ("c", "third", lambda: 3)]
    out, seconds = run_steps(steps, said.append, done="{key} done", results=results)
    assert out is results and results == {"a": 1, "b": 2, "c": 3}
    assert said == ["first", "a done", "b done", "third", "c done"]
    assert list(seconds) == ["a", "b", "c"] and all(s >= 0 for s in seconds.values())


@pytest.mark.parametrize("runtime", ["native", "docker"])
def test_admin_api_turned_on_for_a_script_is_turned_off_again_after_it(monkeypatch, runtime):
    """A user's stack runs with the admin API off: a scenario script turns it on for its run, and restarts
    inventory with ADMIN_API=false afterwards, even when the run fails; a stack that had it on is left alone."""
    answers = []  # what GET /admin/status answers, in order
    monkeypatch.setattr(stack_mod.requests, "get", lambda url, timeout: SimpleNamespace(status_code=answers.pop(0)))
    stack = NativeStack("async-rabbitmq", Settings(), admin=True) if runtime == "native" else \
        DockerStack("async-rabbitmq", Settings(), admin=True, env={})
    envs = []  # the environment inventory-service was (re)started with
    if runtime == "native":
        monkeypatch.setattr(stack._part, "start", lambda name, env=None, progress=None: envs.append((name, env)))
    else:
        monkeypatch.setattr(subprocess, "run", lambda cmd, env=None, **kw: envs.append((cmd[-1], env)) or
                            subprocess.CompletedProcess(cmd, 0, stdout=""))
        monkeypatch.setattr(stack_mod, "wait_healthy", lambda url, timeout: None)
        monkeypatch.setattr(stack, "pid", lambda service: None)
    monkeypatch.delenv("ADMIN_API", raising=False)

    answers.append(404)
    with pytest.raises(RuntimeError, match="scenario failed"), stack.admin_api():
        assert [(n, e["ADMIN_API"]) for n, e in envs] == [("inventory-service", "true")]
        raise RuntimeError("scenario failed")
    assert [(n, e["ADMIN_API"]) for n, e in envs] == [("inventory-service", "true"), ("inventory-service", "false")]

    envs.clear()
    answers.append(200)  # the user started it with ADMIN_API=true: nothing to turn on, nothing to restore
    with stack.admin_api():
        pass
    assert envs == []
    answers.append(404)
    with pytest.raises(RuntimeError, match="admin=True"), DockerStack("async-rabbitmq", env={}).admin_api():
        pass
