"""Static check of the cluster's extra compose file over the part's own (no Docker engine needed): the real
Compose v2 binary merges and validates both; three nodes of the base file's image, one Erlang cookie, peer discovery
naming all three, a volume each, guest never the account, and every service told about all three and waiting
for them to be healthy."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from async_rabbitmq.messaging.nodes import nodes, queue_type
from common.settings import Settings
from labkit.stack import COMPOSE_CLUSTER, docker_client_settings

pytestmark = pytest.mark.unit

PART_DIR = Path(__file__).resolve().parents[2]
COMPOSE_BIN = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / \
    "site-packages" / "compose" / "docker-compose"
NODES = ["rabbit@rabbitmq", "rabbit@rabbitmq-2", "rabbit@rabbitmq-3"]


COOKIE = {"RABBITMQ_ERLANG_COOKIE": "a-secret-of-the-test"}


def compose_config(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([str(COMPOSE_BIN), "-f", "docker-compose.yml", "-f", "docker-compose.cluster.yml", "config",
                           "--format", "json"], cwd=PART_DIR, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", **env})


def merged(env: dict[str, str] | None = None) -> dict:
    out = compose_config(COOKIE | (env or {}))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["services"]


def test_the_cluster_has_no_default_erlang_cookie():
    """Whoever holds the cookie can run code on the nodes, and their distribution port is reachable from this host
    through the compose network: a cookie written in the file would be every clone's. No cookie, no cluster."""
    out = compose_config({})
    assert out.returncode != 0 and "RABBITMQ_ERLANG_COOKIE" in out.stderr
    envs = [s["environment"] for name, s in merged().items() if name.startswith("rabbitmq")]
    assert {e["RABBITMQ_ERLANG_COOKIE"] for e in envs} == {COOKIE["RABBITMQ_ERLANG_COOKIE"]}


def test_the_stacks_cookie_is_made_once_owner_only_and_a_users_own_wins(tmp_path, monkeypatch):
    import os
    import stat

    from labkit import stack

    monkeypatch.setattr(stack, "COMPOSE_COOKIE_FILE", tmp_path / "compose" / "rabbitmq-cluster.cookie")
    first = stack.cluster_secrets("async-rabbitmq", {})["RABBITMQ_ERLANG_COOKIE"]
    assert len(first) == 40 and stack.cluster_secrets("async-rabbitmq", {}) == {"RABBITMQ_ERLANG_COOKIE": first}
    assert stat.S_IMODE(os.stat(stack.COMPOSE_COOKIE_FILE).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(stack.COMPOSE_COOKIE_FILE.parent).st_mode) == 0o700
    assert stack.cluster_secrets("async-rabbitmq", COOKIE) == COOKIE
    assert stack.cluster_secrets("streaming-kafka", {}) == {}
    monkeypatch.delenv("RABBITMQ_ERLANG_COOKIE", raising=False)
    assert stack.DockerStack("async-rabbitmq", env={}, cluster=True).env == {"RABBITMQ_ERLANG_COOKIE": first}
    assert stack.DockerStack("async-rabbitmq", env={}).env == {}  # the single node needs none


def test_cluster_compose_file_merges_into_three_clustered_nodes():
    services = merged()
    brokers = {name: s for name, s in services.items() if name.startswith("rabbitmq")}
    assert sorted(brokers) == ["rabbitmq", "rabbitmq-2", "rabbitmq-3"]
    assert {s["image"] for s in brokers.values()} == {services["rabbitmq"]["image"]} == {"rabbitmq:3.13.7-management"}
    assert {s["image"] for s in merged({"RABBITMQ_IMAGE": "local/rabbit:1"}).values() if "build" not in s} == \
        {"local/rabbit:1"}  # the offline stand-in for all three
    assert [s.get("hostname") for s in brokers.values()] == ["rabbitmq", "rabbitmq-2", "rabbitmq-3"]
    envs = [s["environment"] for s in brokers.values()]
    assert len({e["RABBITMQ_ERLANG_COOKIE"] for e in envs}) == 1
    assert {(e["RABBITMQ_DEFAULT_USER"], e["RABBITMQ_DEFAULT_PASS"]) for e in envs} == {("foodlab", "foodlab-local")}
    volumes = [v for s in brokers.values() for v in s["volumes"]]
    assert len({v["source"] for v in volumes if v["type"] == "volume"}) == 3  # a data volume each, none shared
    assert "rabbitmq-data" not in {v["source"] for v in volumes}  # never the single node's
    confs = {v["source"] for v in volumes if v["type"] == "bind" and v["target"].startswith("/etc/rabbitmq/conf.d/")}
    assert confs == {str(PART_DIR / "rabbitmq" / "cluster.conf")}
    conf = (PART_DIR / "rabbitmq" / "cluster.conf").read_text()
    assert "cluster_formation.peer_discovery_backend = classic_config" in conf
    assert [f"cluster_formation.classic_config.nodes.{i} = {n}" in conf for i, n in enumerate(NODES, 1)] == [True] * 3
    for name in ("rabbitmq-2", "rabbitmq-3"):  # join node 1 once it is up, one cluster
        assert services[name]["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
        assert services[name]["healthcheck"]["test"] == services["rabbitmq"]["healthcheck"]["test"]
        assert services[name]["restart"] == "unless-stopped"


def test_every_service_knows_all_three_nodes_and_declares_quorum_queues():
    services = merged()
    for name in ("inventory-service", "notification-service", "order-service"):
        env = services[name]["environment"]
        assert env["RABBITMQ_NODES"] == ",".join(NODES)
        assert {"rabbitmq", "rabbitmq-2", "rabbitmq-3"} <= set(services[name]["depends_on"])
        inside = Settings(rabbitmq_nodes=env["RABBITMQ_NODES"], cluster_size=int(env["BROKERS"]))
        assert [(n.host, n.amqp_port, n.nodename) for n in nodes(inside)] == [
            (n.split("@")[1], 5672, n) for n in NODES]
        assert queue_type(inside) == "quorum"


def test_the_host_reaches_each_node_on_its_published_ports():
    services = merged()
    published = {(int(p["published"]), int(p["target"])) for name in ("rabbitmq", "rabbitmq-2", "rabbitmq-3")
                 for p in services[name]["ports"] if int(p["target"]) != 15692}  # not a client's: Prometheus's
    client = docker_client_settings(Settings(), cluster=True)
    assert client.cluster_size == 3 and client.rabbitmq_nodes == COMPOSE_CLUSTER["rabbitmq_nodes"]
    seen = nodes(client)
    assert [(n.service, n.nodename, n.host) for n in seen] == [
        ("rabbitmq", NODES[0], "127.0.0.1"), ("rabbitmq-2", NODES[1], "127.0.0.1"), ("rabbitmq-3", NODES[2], "127.0.0.1")]
    assert {(n.amqp_port, 5672) for n in seen} | {(n.mgmt_port, 15672) for n in seen} == published
    assert len(nodes(docker_client_settings(Settings(cluster_size=3)))) == 1  # the single-node stack: one node
