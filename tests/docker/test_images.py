"""The Docker platform (docker/): the Kafka entrypoint's KAFKA_* mapping as a pure function (unit), and the local
images of docker/offline.env on a real engine (docker): they build, the Python base is 3.11, RabbitMQ refuses
guest from outside and accepts the configured user, Kafka writes server.properties from KAFKA_* and serves it.

The docker tests start their own engine through docker/engine.sh and are skipped, with its reason, where no
engine can be had (exit code 3). Run them under `flock /tmp/foodlab-stack.lock`.
"""
from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import uuid

import pika
import pytest
import requests
from pika.exceptions import ProbableAuthenticationError

from common.settings import ROOT, get_settings
from labkit.stack import wait_for
from labkit.testing import wait_docker_prep
from streaming_kafka.kafka_io import TopicPartition, make_producer, make_reader

DOCKER = ROOT / "docker"
UNAVAILABLE = 3


def _entrypoint():
    """docker/kafka/entrypoint.py (a script the Kafka image runs, not a package module), loaded from its file."""
    spec = importlib.util.spec_from_file_location("kafka_entrypoint", DOCKER / "kafka" / "entrypoint.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _offline_images() -> dict[str, str]:
    lines = (DOCKER / "offline.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


# ------------------------------------------------------------------------------------------------ unit
@pytest.mark.unit
@pytest.mark.parametrize("variable, prop", [
    ("KAFKA_NODE_ID", "node.id"),
    ("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "listener.security.protocol.map"),
    ("KAFKA_LISTENER_NAME_EXTERNAL_SSL_CLIENT__AUTH", "listener.name.external.ssl.client_auth"),
    ("KAFKA_SOME___DASHED_NAME", "some-dashed.name"),
    ("KAFKA_A____B", "a-.b"),  # greedy from the left: `___` first, then `_`
])
def test_kafka_property_name(variable, prop):
    assert _entrypoint().property_name(variable) == prop


@pytest.mark.unit
def test_kafka_properties_from_env_keeps_only_broker_settings():
    ep = _entrypoint()
    env = {"KAFKA_NODE_ID": "1", "KAFKA_LOG_DIRS": "/d", "KAFKA_HEAP_OPTS": "-Xmx1g", "KAFKA_OPTS": "-Dx=1",
           "KAFKA_JVM_PERFORMANCE_OPTS": "-server", "KAFKA_LOG4J_LOGGERS": "x=INFO", "KAFKA_VERSION": "3.9.1",
           "CLUSTER_ID": "abc", "PATH": "/bin", "kafka_lower": "no"}
    props = ep.properties_from_env(env)
    assert props == {"log.dirs": "/d", "node.id": "1"}
    assert ep.render(props) == "log.dirs=/d\nnode.id=1\n"


@pytest.mark.unit
def test_kafka_defaults_only_without_any_setting():
    ep = _entrypoint()
    defaults = ep.properties_from_env({"KAFKA_HEAP_OPTS": "-Xmx1g", "CLUSTER_ID": "x"})
    assert defaults["process.roles"] == "broker,controller" and defaults["log.dirs"] == "/var/lib/kafka/data"
    assert ep.properties_from_env({"KAFKA_NODE_ID": "2"}) == {"node.id": "2"}


@pytest.mark.unit
def test_kafka_jvm_options_follow_the_opts_variables():
    ep = _entrypoint()
    default = ep.java("kafka.Kafka", "/c", env={})
    assert default[0] == "java" and default[-4:] == ["-cp", "/opt/kafka/libs/*", "kafka.Kafka", "/c"]
    assert "-Xmx1G" in default and any(o.startswith("-Dlog4j.configuration=") for o in default)
    custom = ep.java("kafka.Kafka", "/c", env={"KAFKA_HEAP_OPTS": "-Xmx300m -Xms300m", "KAFKA_OPTS": "-Dfoo=1"})
    assert "-Xmx300m" in custom and "-Xms300m" in custom and "-Dfoo=1" in custom and "-Xmx1G" not in custom
    assert custom[-4:] == ["-cp", "/opt/kafka/libs/*", "kafka.Kafka", "/c"]


@pytest.mark.unit
def test_offline_names_are_never_official_names():
    images = _offline_images()
    assert set(images) == {"PYTHON_BASE_IMAGE", "RABBITMQ_IMAGE", "KAFKA_IMAGE"}
    assert all(name.startswith("foodlab/") for name in images.values())
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "ARG PYTHON_BASE_IMAGE=python:3.11-slim-bookworm\nFROM ${PYTHON_BASE_IMAGE}\n" in dockerfile


# ---------------------------------------------------------------------------------------------- docker
def _run(*argv: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if check and out.returncode != 0:
        pytest.fail(f"{' '.join(argv)} exited {out.returncode}:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return out


@pytest.fixture(scope="module")
def images() -> dict[str, str]:
    """The engine (skip with its reason where none can be had) and the three local images, built (cached)."""
    wait_docker_prep()
    engine = _run(str(DOCKER / "engine.sh"), check=False)
    if engine.returncode == UNAVAILABLE:
        pytest.skip(engine.stderr.strip().splitlines()[-1])
    assert engine.returncode == 0, engine.stderr[-2000:]
    _run(str(DOCKER / "images.sh"))
    return _offline_images()


@pytest.mark.docker
def test_images_second_run_rebuilds_nothing(images):
    out = _run(str(DOCKER / "images.sh")).stdout
    assert sorted(line for line in out.splitlines() if "is up to date" in line) == sorted(  # built side by side
        f"docker-images: {images[k]} is up to date" for k in ("PYTHON_BASE_IMAGE", "RABBITMQ_IMAGE", "KAFKA_IMAGE"))
    assert "building" not in out and "debootstrap" not in out


@pytest.mark.docker
def test_engine_unavailable_is_exit_3_with_one_line_reason(tmp_path):
    """Not root and no engine reachable: the distinct exit code the docker ring turns into a skip."""
    if os.geteuid() != 0:
        pytest.skip("switching to an unprivileged user needs root")
    out = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                          "env", f"HOME={tmp_path}", "DOCKER_HOST=unix:///nonexistent.sock", str(DOCKER / "engine.sh")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == UNAVAILABLE
    assert out.stderr.strip().splitlines() == ["docker-engine: unavailable: no Docker engine is running and starting "
                                               "one needs root (uid 65534)"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def container():
    """Start containers with `docker run -d`; every one is removed (with its anonymous volumes) afterwards."""
    names = []

    def run(image: str, *args: str, env: dict[str, str] | None = None, ports: tuple[tuple[int, int], ...] = ()) -> str:
        name = f"foodlab-test-{uuid.uuid4().hex[:8]}"
        names.append(name)
        argv = ["docker", "run", "-d", "--name", name]
        for key, value in (env or {}).items():
            argv += ["-e", f"{key}={value}"]
        for host, inside in ports:  # published on loopback only
            argv += ["-p", f"127.0.0.1:{host}:{inside}"]
        _run(*argv, image, *args)
        return name

    yield run
    for name in names:
        subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True)


def _exec(name: str, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", "exec", name, *argv], capture_output=True, text=True, timeout=60)


@pytest.mark.docker
def test_python_base_is_python_311_with_pip(images):
    out = _run("docker", "run", "--rm", images["PYTHON_BASE_IMAGE"], "sh", "-c",
               'python -c "import sys; print(sys.version_info[:2])" && pip --version && echo "$PIP_CERT"').stdout
    lines = out.splitlines()
    assert lines[0] == "(3, 11)"
    assert lines[1].startswith("pip ") and "python 3.11" in lines[1]
    assert lines[2] == "/etc/ssl/certs/ca-certificates.crt"


def _amqp_login(port: int, user: str, password: str) -> bool:
    params = pika.ConnectionParameters("127.0.0.1", port, credentials=pika.PlainCredentials(user, password),
                                       connection_attempts=1, socket_timeout=5)
    try:
        pika.BlockingConnection(params).close()
    except ProbableAuthenticationError:
        return False
    return True


@pytest.mark.docker
def test_rabbitmq_refuses_guest_from_outside_and_accepts_the_configured_user(images, container):
    """Two brokers: one with a configured user, one left with guest/guest (what a compose default of guest gives)."""
    ports = {"user": (_free_port(), _free_port()), "guest": (_free_port(), _free_port())}
    users = {"user": ("foodlab", "s3cret"), "guest": ("guest", "guest")}
    names = {k: container(images["RABBITMQ_IMAGE"], ports=((ports[k][0], 5672), (ports[k][1], 15672)),
                          env={"RABBITMQ_DEFAULT_USER": users[k][0], "RABBITMQ_DEFAULT_PASS": users[k][1]})
             for k in users}
    for name in names.values():  # the compose healthcheck's own command says when the broker is up
        wait_for(lambda n=name: _exec(n, "rabbitmq-diagnostics", "-q", "check_port_connectivity").returncode == 0,
                 timeout=120, interval=1, what="rabbitmq-diagnostics check_port_connectivity")
        assert _exec(name, "id", "-u").stdout.strip() != "0"
        assert "loopback_users.guest = true" in _exec(name, "cat", "/etc/rabbitmq/rabbitmq.conf").stdout

    # through the published ports, as users and other containers reach it: not the container's own loopback
    amqp, http = ports["user"]
    assert _amqp_login(amqp, "foodlab", "s3cret")
    assert not _amqp_login(amqp, "foodlab", "wrong")
    api = f"http://127.0.0.1:{http}/api/whoami"
    assert requests.get(api, auth=("foodlab", "s3cret"), timeout=5).json()["name"] == "foodlab"

    amqp, http = ports["guest"]
    assert _exec(names["guest"], "rabbitmqctl", "-q", "authenticate_user", "guest", "guest").returncode == 0  # exists
    assert not _amqp_login(amqp, "guest", "guest")  # ... and is refused from outside
    assert requests.get(f"http://127.0.0.1:{http}/api/whoami", auth=("guest", "guest"), timeout=5).status_code == 401


@pytest.mark.docker
def test_kafka_maps_kafka_variables_and_serves_them(images, container):
    port = _free_port()
    cluster_id = "Zm9vZGxhYnRlc3QwMDAwMQ"
    env = {
        "CLUSTER_ID": cluster_id,
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": f"INTERNAL://:9092,EXTERNAL://:{port},CONTROLLER://:9093",
        "KAFKA_ADVERTISED_LISTENERS": f"INTERNAL://127.0.0.1:9092,EXTERNAL://127.0.0.1:{port}",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "KAFKA_INTER_BROKER_LISTENER_NAME": "INTERNAL",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@127.0.0.1:9093",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_NUM_PARTITIONS": "3",
        "KAFKA_LOG_DIRS": "/var/lib/kafka/data",
        "KAFKA_FOODLAB___TEST__KEY": "mapped",  # unknown to Kafka (it only warns): checks `___` and `__`
        "KAFKA_HEAP_OPTS": "-Xmx256m -Xms256m",
    }
    name = container(images["KAFKA_IMAGE"], env=env, ports=((port, port),))
    # the cheap healthcheck (bash + one ApiVersions request) says when the broker answers
    wait_for(lambda: _exec(name, "kafka-ready.sh").returncode == 0, timeout=120, interval=1, what="kafka-ready.sh")
    assert _exec(name, "kafka-ready.sh", "127.0.0.1", "1").returncode != 0  # nothing listens there
    assert _exec(name, "id", "-u").stdout.strip() != "0"

    written = dict(line.split("=", 1) for line in _exec(name, "cat", "/opt/kafka/config/server.properties")
                   .stdout.splitlines() if "=" in line)
    assert written == _entrypoint().properties_from_env(env)
    assert written["foodlab-test_key"] == "mapped" and written["num.partitions"] == "3"
    assert not any("opts" in key for key in written)
    meta = _exec(name, "cat", "/var/lib/kafka/data/meta.properties").stdout
    assert f"cluster.id={cluster_id}" in meta

    topic, bootstrap = f"t-{uuid.uuid4().hex[:6]}", f"127.0.0.1:{port}"
    # retries: the first send to an auto-created topic can meet NotLeaderForPartition while its leader is elected
    settings = get_settings().model_copy(update={"kafka_bootstrap": bootstrap})
    producer = make_producer(settings, bulk=False, retries=10, retry_backoff_ms=500)
    producer.send(topic, b"hello").get(timeout=60)  # auto-created with num.partitions from KAFKA_NUM_PARTITIONS
    producer.close()
    reader = make_reader(settings)
    try:
        partitions = reader.partitions_for_topic(topic)
        assert len(partitions) == 3
        reader.assign([TopicPartition(topic, p) for p in partitions])
        seen = wait_for(lambda: [r.value for recs in reader.poll(timeout_ms=1000).values() for r in recs], 30,
                        what="the record back")
        assert seen == [b"hello"]
    finally:
        reader.close()
