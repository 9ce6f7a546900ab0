"""Part C's native KRaft cluster through `make up/kill/down` (the runtime's command line), in a run directory of
its own: it starts again after a broker was killed before `down`, and a running part refuses another BROKERS
before it formats or writes anything."""
from __future__ import annotations

import os
import subprocess

import pytest

from common.settings import Settings
from labkit.testing import STACKS, runtime_cli
from labkit.testing import refused_in_one_line as refused
from streaming_kafka.lab.broker.native import registered_brokers

pytestmark = pytest.mark.integration

PART = "streaming-kafka"


@pytest.fixture(scope="module")
def run_dir():
    STACKS.release()  # another stack of this session would hold the same ports
    path = Settings().run_dir / "tests" / f"kafka-cluster-lifecycle-{os.getpid()}"
    yield path
    cli(path, "down")
    subprocess.run(["rm", "-rf", str(path)], check=False)


def cli(run_dir, *args: str, brokers: int | None = None) -> subprocess.CompletedProcess:
    # analytics' metrics go to the run directory, not over the committed evidence
    return runtime_cli(run_dir, *args, brokers=brokers, env={"METRICS_DIR": str(run_dir / "metrics")})


def written(part_dir) -> dict[str, int]:
    """What `up` writes before it starts anything: the part's folders, the spec files and each broker's
    configuration (rewritten by every start); files with their modification times."""
    files = [*part_dir.iterdir(), *(part_dir / "env").iterdir(), *part_dir.glob("kafka/*.properties"),
             *part_dir.glob("cluster/*"), *part_dir.glob("cluster/kafka-*/*.properties")]
    # a folder's own time changes whenever a running service writes in it (a SQLite journal): only its name counts
    return {str(p.relative_to(part_dir)): None if p.is_dir() else p.stat().st_mtime_ns for p in files}


def test_a_running_single_broker_refuses_brokers_3_before_formatting_anything(run_dir):
    part_dir = run_dir / PART
    try:
        out = cli(run_dir, "up", PART, brokers=1)
        assert out.returncode == 0, out.stdout + out.stderr
        before = written(part_dir)
        refused(cli(run_dir, "up", PART, brokers=3))
        assert not (part_dir / "cluster").exists()  # no broker 2 storage formatted, no cluster id
        assert written(part_dir) == before
        assert registered_brokers(Settings(run_dir=run_dir, cluster_size=1)) == {1}  # still running
    finally:
        assert cli(run_dir, "down").returncode == 0


@pytest.fixture(scope="module")
def cluster(run_dir):
    out = cli(run_dir, "up", PART, brokers=3)
    assert out.returncode == 0, out.stdout + out.stderr
    settings = Settings(run_dir=run_dir, cluster_size=3)
    assert registered_brokers(settings) == {1, 2, 3}
    return settings


# Node 1 killed (the case that wedged Part B's RabbitMQ cluster); every broker killed passed too, and costs a
# cluster start more than the 35-minute budget of `make test` has room for.
@pytest.mark.parametrize("victims", [["kafka"]], ids=["node-1"])
def test_the_cluster_starts_again_after_brokers_were_killed_before_down(run_dir, cluster, victims):
    assert cli(run_dir, "up", PART, brokers=3).returncode == 0  # (already up: a no-op)
    for victim in victims:
        assert cli(run_dir, "kill", PART, victim).returncode == 0
    assert cli(run_dir, "down").returncode == 0
    out = cli(run_dir, "up", PART, brokers=3)
    assert out.returncode == 0, out.stdout + out.stderr
    assert registered_brokers(cluster) == {1, 2, 3}


def test_a_running_cluster_refuses_brokers_1_before_touching_any_state(run_dir, cluster):
    before = written(run_dir / PART)
    refused(cli(run_dir, "up", PART, brokers=1))
    assert written(run_dir / PART) == before
    assert registered_brokers(cluster) == {1, 2, 3}
