"""The scenario interface: the runtime is chosen by settings, and the Docker flavour issues the compose
commands a user with Docker would type (checked without an engine by recording them)."""
import subprocess

import pytest

from common.settings import ROOT, Settings
from common.stack import DockerStack, NativeStack, get_stack, without_faults

pytestmark = pytest.mark.unit


def test_runtime_is_chosen_by_settings():
    assert isinstance(get_stack("sync-rest", settings=Settings(stack_runtime="docker")), DockerStack)
    assert isinstance(get_stack("sync-rest", settings=Settings()), NativeStack)
    assert isinstance(get_stack("sync-rest", "docker"), DockerStack)


def test_faults_are_dropped_unless_asked_for():
    env = {"PATH": "/bin", "FORCE_FAILURE": "true", "INVENTORY_DELAY_MS": "5"}
    assert without_faults(env) == {"PATH": "/bin"}


def test_docker_stack_commands(monkeypatch):
    calls = []

    def fake_run(cmd, env=None, **kw):
        calls.append((cmd, env))
        return subprocess.CompletedProcess(cmd, 0, stdout="log line\n")

    monkeypatch.setattr(subprocess, "run", fake_run)
    monkeypatch.setenv("FORCE_FAILURE", "true")  # left over in the caller's shell: must not leak
    stack = DockerStack("sync-rest")
    stack.up()
    stack.start("inventory-service", env={"INVENTORY_DELAY_MS": "2000"})
    stack.stop("inventory-service")
    stack.kill("inventory-service")
    assert stack.logs("order-service", 5) == "log line\n"
    base = ["docker", "compose", "--project-directory", str(ROOT / "sync-rest"), "-f",
            str(ROOT / "sync-rest" / "docker-compose.yml")]
    cmds = [c[len(base):] for c, _ in calls]
    assert all(c[:len(base)] == base for c, _ in calls)
    assert cmds == [["up", "-d", "--build", "--wait"],
                    ["up", "-d", "--no-deps", "--force-recreate", "--wait", "inventory-service"],
                    ["stop", "inventory-service"], ["kill", "-s", "SIGKILL", "inventory-service"],
                    ["logs", "--no-color", "--no-log-prefix", "--tail", "5", "order-service"]]
    start_env = calls[1][1]
    assert start_env["INVENTORY_DELAY_MS"] == "2000" and "FORCE_FAILURE" not in start_env


def test_evidence_commit_ignores_the_outputs_a_run_writes(tmp_path):
    from common.evidence import commit

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
