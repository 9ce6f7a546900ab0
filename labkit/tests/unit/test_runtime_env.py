"""Issue 10, defect 4: the spec file a service starts from holds only the variables it reads (its settings and
what the process needs), never the caller's secrets, and only its owner can read it (0600 in a 0700 dir)."""
import json
import stat
import subprocess
import sys

import pytest

from common.settings import ROOT, Settings
from labkit.runtime.control import Part
from labkit.runtime.envspec import PROCESS_VARS, service_environment, settings_vars
from labkit.runtime.spec import Service

pytestmark = pytest.mark.unit

SECRETS = {"AWS_SECRET_ACCESS_KEY": "aws-s3cr3t-value", "GITHUB_TOKEN": "ghp_tok3n-value",
           "DB_PASSWORD": "hunter2-value", "npm_config__authToken": "npm-tok3n-value"}


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def part(tmp_path):
    return Part("sync-rest", Settings(run_dir=tmp_path / "run"))


def capture(part, env, argv=("true",)):
    svc = Service(name="probe", argv=list(argv), env={"RABBITMQ_LOGS": "-"})
    part._capture_env(svc, env)
    return part.envdir / "probe.json"


def test_secrets_never_reach_the_spec_file_and_settings_do(part):
    env = {"PATH": "/usr/bin:/bin", "HOME": "/home/x", "LANG": "C.UTF-8", "INVENTORY_DELAY_MS": "250",
           "FORCE_FAILURE": "true", "order_port": "7200", **SECRETS}
    path = capture(part, env)
    text = path.read_text()
    for name, value in SECRETS.items():
        assert name not in text and value not in text
    got = json.loads(text)["env"]
    assert got["INVENTORY_DELAY_MS"] == "250" and got["FORCE_FAILURE"] == "true" and got["order_port"] == "7200"
    assert got["PATH"] == "/usr/bin:/bin" and got["HOME"] == "/home/x" and got["LANG"] == "C.UTF-8"
    assert got["RABBITMQ_LOGS"] == "-" and got["SERVICE_NAME"] == "probe"  # the service's own and the runtime's


def test_spec_file_is_0600_in_a_0700_directory_even_over_an_older_wider_file(part):
    part.envdir.mkdir(parents=True)
    part.envdir.chmod(0o755)
    old = part.envdir / "probe.json"
    old.write_text("{}")
    old.chmod(0o644)
    path = capture(part, {"PATH": "/bin"})
    assert mode(path) == 0o600 and mode(part.envdir) == 0o700
    assert [p.name for p in part.envdir.iterdir()] == ["probe.json"]  # no temporary file left behind


def test_the_launched_process_sees_the_filtered_environment(part):
    code = "import json, os; print(json.dumps(dict(os.environ)))"
    path = capture(part, {"PATH": "/usr/bin:/bin", "KAFKA_BOOTSTRAP": "127.0.0.1:1", **SECRETS},
                   argv=(sys.executable, "-c", code))
    out = subprocess.run([sys.executable, "-m", "labkit.runtime.launch", str(path)], cwd=ROOT,
                         capture_output=True, text=True, check=True, timeout=60)
    seen = json.loads(out.stdout)
    assert seen["KAFKA_BOOTSTRAP"] == "127.0.0.1:1" and not set(SECRETS) & set(seen)


def test_kept_names_are_the_settings_fields_and_the_process_basics():
    assert {"ORDER_PORT", "FORCE_FAILURE", "INVENTORY_DELAY_MS", "RABBITMQ_PASSWORD", "KAFKA_BOOTSTRAP"} <= settings_vars()
    assert service_environment({"TZ": "UTC", "SSH_AUTH_SOCK": "/tmp/a", "OPENAI_API_KEY": "x"}) == {"TZ": "UTC"}
    assert not {"SSH_AUTH_SOCK", "AWS_SECRET_ACCESS_KEY"} & PROCESS_VARS


def test_spec_file_write_follows_no_planted_link(part, tmp_path):
    """The spec is written to a sibling, then renamed: a link planted at the sibling's name or at the file's
    own must not make the runtime write through it."""
    import os
    part.envdir.mkdir(parents=True)
    victim, victim2 = tmp_path / "victim", tmp_path / "victim2"
    victim.write_text("untouched")
    victim2.write_text("untouched")
    (part.envdir / f".probe.json.{os.getpid()}.tmp").symlink_to(victim)  # the old, predictable sibling name
    (part.envdir / "probe.json").symlink_to(victim2)
    path = capture(part, {"PATH": "/bin"})
    assert victim.read_text() == "untouched" and victim2.read_text() == "untouched"
    assert not path.is_symlink() and mode(path) == 0o600 and json.loads(path.read_text())["argv"] == ["true"]


def test_run_and_part_dirs_are_closed_to_others_from_the_first_config_write(part):
    import os
    old = os.umask(0)
    try:
        part._write_config()
    finally:
        os.umask(old)
    assert mode(part.settings.run_dir) == 0o700 and mode(part.dir) == 0o700


def test_gunicorn_services_get_a_metrics_directory_under_the_parts_run_folder(part):
    from labkit.runtime.spec import gunicorn_service

    svc = gunicorn_service(part.settings, "order-service", "sync_rest.order_service.app", 6000)
    part._capture_env(svc, {"PATH": "/usr/bin", "PROMETHEUS_MULTIPROC_DIR": "/tmp/elsewhere"})
    got = json.loads((part.envdir / "order-service.json").read_text())["env"]
    assert got["PROMETHEUS_MULTIPROC_DIR"] == str(part.dir / "metrics" / "order-service")
    # a one-process service keeps prometheus_client's default registry: no directory, whatever the caller has
    assert "PROMETHEUS_MULTIPROC_DIR" not in json.loads(capture(part, {"PROMETHEUS_MULTIPROC_DIR": "/x"}).read_text())["env"]
