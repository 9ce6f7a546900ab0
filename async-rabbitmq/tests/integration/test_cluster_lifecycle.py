"""Part B's native cluster through `make up/kill/down` (the runtime's command line), in a run directory of its own:
it starts again after any of its nodes was killed before `down`, and a running part refuses another BROKERS
before it writes anything.

A node that did not stop last waits (up to 5 minutes) for the peer that did; started one after another with
node 1 first, node 1 killed and node 2 stopped last, node 1 waited for a node that was never started."""
from __future__ import annotations

import os
import subprocess

import pytest
import requests

from async_rabbitmq.messaging.nodes import nodes
from common.settings import Settings
from labkit.runtime.control import Part
from labkit.runtime.spec import load_services
from labkit.testing import STACKS, runtime_cli
from labkit.testing import refused_in_one_line as refused

pytestmark = pytest.mark.integration

PART = "async-rabbitmq"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    STACKS.release()  # another stack of this session would hold the same ports
    # Under the project's .run/ (not /tmp): as root the nodes run as `rabbitmq`, which must reach their folders.
    path = Settings().run_dir / "tests" / f"cluster-lifecycle-{os.getpid()}"
    yield path
    cli(path, "down")
    subprocess.run(["rm", "-rf", str(path)], check=False)


def cli(run_dir, *args: str, brokers: int | None = None) -> subprocess.CompletedProcess:
    return runtime_cli(run_dir, *args, brokers=brokers, timeout=600)


def running_members(settings: Settings) -> set[str]:
    """The cluster's nodes node 1 sees running (management API)."""
    node = nodes(settings)[0]
    r = requests.get(f"http://{node.host}:{node.mgmt_port}/api/nodes",
                     auth=(settings.rabbitmq_user, settings.rabbitmq_password), timeout=10)
    r.raise_for_status()
    return {n["name"] for n in r.json() if n.get("running")}


def enabled_feature_flags(settings: Settings) -> dict[str, set[tuple[str, str]]]:
    """Each node's enabled feature flags, with the application that provides each (its own management API)."""
    out = {}
    for node in nodes(settings):
        r = requests.get(f"http://{node.host}:{node.mgmt_port}/api/feature-flags",
                         auth=(settings.rabbitmq_user, settings.rabbitmq_password), timeout=10)
        r.raise_for_status()
        out[node.nodename] = {(f["name"], f["provided_by"]) for f in r.json() if f["state"] == "enabled"}
    return out


def assert_only_the_brokers_own_feature_flags(settings: Settings) -> None:
    """Every node has the same feature flags enabled, all of them the broker's own: a node starting beside its
    peers is then never asked to enable a plugin's flag it has not loaded yet (which fails its peer's boot)."""
    flags = enabled_feature_flags(settings)
    assert len({frozenset(f) for f in flags.values()}) == 1, flags
    first = next(iter(flags.values()))
    assert {"quorum_queue", "stream_queue"} <= {name for name, _ in first}, first
    assert {by for _, by in first} == {"rabbit"}, first


def written(part_dir) -> dict[str, int]:
    """What `up` writes before it starts anything: the part's folders, the spec files and each node's configuration
    (rewritten by every start); files with their modification times."""
    files = [*part_dir.iterdir(), *(part_dir / "env").iterdir(), *part_dir.glob("rabbitmq*/conf/*")]
    # a folder's own time changes whenever a running service writes in it (a SQLite journal): only its name counts
    return {str(p.relative_to(part_dir)): None if p.is_dir() else p.stat().st_mtime_ns for p in files}


def test_a_running_single_node_refuses_brokers_3_before_touching_any_state(run_dir):
    """The single node stays up for the next test (a node start saved); the cluster's fixture takes it down."""
    part_dir = run_dir / PART
    assert cli(run_dir, "up", PART, brokers=1).returncode == 0
    before = written(part_dir)
    refused(cli(run_dir, "up", PART, brokers=3))
    assert not (part_dir / "rabbitmq-2").exists() and not (part_dir / "rabbitmq-cluster.cookie").exists()
    assert written(part_dir) == before  # no file written, no storage made, the running node not restarted
    single = Settings(run_dir=run_dir, cluster_size=1)
    assert running_members(single) == {nodes(single)[0].nodename}


def test_a_killed_single_node_starts_again_with_up_and_after_down(run_dir):
    single = Settings(run_dir=run_dir, cluster_size=1)
    everything = {s.name for s in load_services(PART, single) if not s.profile}
    try:
        for down_first in (False, True):
            assert cli(run_dir, "up", PART, brokers=1).returncode == 0  # (the first time, already up: a no-op)
            assert cli(run_dir, "kill", PART, "rabbitmq").returncode == 0
            if down_first:
                assert cli(run_dir, "down").returncode == 0
            out = cli(run_dir, "up", PART)
            assert out.returncode == 0, out.stdout + out.stderr
            assert running_members(single) == {nodes(single)[0].nodename}
            assert set(Part(PART, single).running_services()) == everything
    finally:
        assert cli(run_dir, "down").returncode == 0


@pytest.fixture(scope="module")
def cluster(run_dir):
    assert cli(run_dir, "down").returncode == 0  # a single node the tests above left up (a no-op otherwise)
    out = cli(run_dir, "up", PART, brokers=3)
    assert out.returncode == 0, out.stdout + out.stderr
    settings = Settings(run_dir=run_dir, cluster_size=3)
    assert len(running_members(settings)) == 3
    return settings


def test_every_node_of_the_cluster_enables_the_same_feature_flags_all_the_brokers_own(cluster):
    assert_only_the_brokers_own_feature_flags(cluster)


# Node 1 killed is the case that wedged the stack (node 2, stopped last, was never started); every other choice of
# the node stopped last is covered without a broker by common/tests/unit/test_runtime_up.py, and every node killed
# below. (Nodes 2 and 3 killed each passed here before the fix too; they cost a cluster start each.)
@pytest.mark.parametrize("victim", ["rabbitmq"])
def test_the_cluster_starts_again_after_a_node_was_killed_before_down(run_dir, cluster, victim):
    assert cli(run_dir, "up", PART, brokers=3).returncode == 0  # (already up: a no-op)
    assert cli(run_dir, "kill", PART, victim).returncode == 0
    assert cli(run_dir, "down").returncode == 0
    out = cli(run_dir, "up", PART, brokers=3)
    assert out.returncode == 0, out.stdout + out.stderr
    assert running_members(cluster) == {n.nodename for n in nodes(cluster)}


def test_the_cluster_starts_again_after_every_node_was_killed(run_dir, cluster):
    """No node stopped last: each waits for the others, and all of them must be started for any to boot. They
    boot at the same moment, each syncing its feature flags with a peer that may still be loading its plugins."""
    assert cli(run_dir, "up", PART, brokers=3).returncode == 0  # (already up: a no-op)
    for victim in ("rabbitmq", "rabbitmq-2", "rabbitmq-3"):
        assert cli(run_dir, "kill", PART, victim).returncode == 0
    assert cli(run_dir, "down").returncode == 0
    out = cli(run_dir, "up", PART, brokers=3)
    assert out.returncode == 0, out.stdout + out.stderr
    assert running_members(cluster) == {n.nodename for n in nodes(cluster)}
    assert_only_the_brokers_own_feature_flags(cluster)


def test_a_running_cluster_refuses_brokers_1_before_touching_any_state(run_dir, cluster):
    before = written(run_dir / PART)
    refused(cli(run_dir, "up", PART, brokers=1))
    assert written(run_dir / PART) == before
    assert running_members(cluster) == {n.nodename for n in nodes(cluster)}
