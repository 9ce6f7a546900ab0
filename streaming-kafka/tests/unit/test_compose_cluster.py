"""Static check of the cluster's extra compose file over the part's own (no Docker engine needed): the real
Compose v2 binary merges and validates both; three brokers, one cluster id, three voters, every service told
about all three and waiting for them."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PART_DIR = Path(__file__).resolve().parents[2]
COMPOSE_BIN = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / \
    "site-packages" / "compose" / "docker-compose"


def test_cluster_compose_file_merges_into_three_brokers():
    out = subprocess.run([str(COMPOSE_BIN), "-f", "docker-compose.yml", "-f", "docker-compose.cluster.yml", "config",
                          "--format", "json"], cwd=PART_DIR, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    services = json.loads(out.stdout)["services"]
    brokers = {name: s for name, s in services.items() if s.get("image", "").startswith("apache/kafka:")}
    assert sorted(brokers) == ["kafka", "kafka-2", "kafka-3"]
    envs = [s["environment"] for s in brokers.values()]
    assert sorted(e["KAFKA_NODE_ID"] for e in envs) == ["1", "2", "3"]
    assert len({e["CLUSTER_ID"] for e in envs}) == 1
    assert {e["KAFKA_CONTROLLER_QUORUM_VOTERS"] for e in envs} == {"1@kafka:9093,2@kafka-2:9093,3@kafka-3:9093"}
    assert {(e["KAFKA_MIN_INSYNC_REPLICAS"], e["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"]) for e in envs} == {("2", "3")}
    assert len({v["source"] for s in brokers.values() for v in s["volumes"]}) == 3  # a data volume each
    assert len({json.dumps(s["healthcheck"]["test"]) for s in brokers.values()}) == 1  # the base file's, no JVM
    local = subprocess.run([str(COMPOSE_BIN), "-f", "docker-compose.yml", "-f", "docker-compose.cluster.yml", "config",
                            "--images"], cwd=PART_DIR, capture_output=True, text=True,
                           env={"PATH": "/usr/bin:/bin", "KAFKA_IMAGE": "local/kafka:1"})
    assert local.stdout.split().count("local/kafka:1") == 3  # the offline stand-in for all three brokers
    for name in ("inventory-consumer", "analytics-consumer", "producer-order"):
        assert services[name]["environment"]["KAFKA_BOOTSTRAP"] == "kafka:9092,kafka-2:9092,kafka-3:9092"
        assert {"kafka", "kafka-2", "kafka-3"} <= set(services[name]["depends_on"])
