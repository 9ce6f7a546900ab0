"""Part C's compose cluster (docker ring, after the single-broker checks): docker-compose.cluster.yml over the part's
compose file starts three KRaft brokers, and the topics get replication factor 3. The broker-failover scenario runs
against it at test scale: kill -9 the broker leading the most `OrderEvents` partitions mid-/bulk (the engine's
SIGKILL, the process frozen first), start it again; the same guarantees as the native failover test."""
import pytest

from labkit import dockercheck as dc
from streaming_kafka.lab import failover as fo
from streaming_kafka.lab.evidence.failover import QUICK
from streaming_kafka.lab.scenarios import lag_rows
from streaming_kafka.lag import total_lag

pytestmark = pytest.mark.docker


def test_three_brokers_replicate_every_partition_and_publish_on_loopback(docker_cluster):
    parts = fo.partitions(docker_cluster.settings)
    assert parts and all(sorted(p["replicas"]) == sorted(p["isr"]) == [1, 2, 3] for p in parts.values()), parts
    published = dc.published(docker_cluster)
    assert {p for svc in ("kafka", "kafka-2", "kafka-3") for _, p in published[svc]} == {29092, 29094, 29096}
    assert all(ip == "127.0.0.1" for bindings in published.values() for ip, _ in bindings), published


@pytest.fixture(scope="module")
def failover(docker_cluster):
    return fo.broker_failover(docker_cluster.settings, docker_cluster, QUICK)


def test_broker_killed_mid_bulk_nothing_lost_nothing_doubled(failover):
    f = failover
    assert f.count == QUICK
    assert f.unmet() == []  # published, nothing lost, none twice, stock exact, replay = live, progress resumed


def test_both_groups_at_lag_0_with_the_broker_back(failover, docker_cluster):
    rows = lag_rows(docker_cluster.settings)
    assert rows and all(total_lag(r) == 0 for r in rows.values()), rows
    parts = fo.partitions(docker_cluster.settings)
    assert all(sorted(p["isr"]) == [1, 2, 3] for p in parts.values())  # the restarted broker is in sync again
