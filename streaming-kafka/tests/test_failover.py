"""Part C cluster failover: both broker-failure scenarios once at test scale on the three-broker cluster, and
every outcome is asserted. Run as a script, it is the evidence writer `python -m streaming_kafka.lab.evidence failover`.
"""
from __future__ import annotations

import sys

import pytest

from common.errors import exit_status
from common.settings import Settings
from labkit.testing import STACKS, claim
from streaming_kafka.lab import failover as fo
from streaming_kafka.lab.evidence.failover import PART, QUICK, cluster_settings, main, start_cluster

# ---------------------------------------------------------------- pytest (integration, test scale)
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster():
    """The part on three brokers, from empty brokers; the single-broker stack this session kept (same ports) is
    stopped first, and started again only by the next ring that needs it."""
    from streaming_kafka.lab.broker.native import wipe

    release = claim(Settings(), PART)  # a user's stack is left alone: the tests are skipped
    STACKS.release()
    env = pytest.MonkeyPatch()
    env.setenv("METRICS_DIR", str(Settings().part_dir(PART) / "test-metrics"))  # never the committed evidence
    settings = cluster_settings()
    stack = start_cluster(settings, fresh=True)
    yield settings, stack
    stack.down()
    wipe(settings)
    env.undo()
    release()


def test_broker_killed_mid_bulk_nothing_lost_nothing_doubled(cluster):
    settings, stack = cluster
    # Killed while /bulk is still sending: confluent-kafka sends QUICK events in well under a tenth of a second, and
    # the consumers keep up, so it gets ten times as many (about the same seconds of sending).
    count = QUICK * 10 if settings.kafka_client == "confluent" else QUICK
    f = fo.broker_failover(settings, stack, count)
    assert f.count == count
    assert f.unmet() == []  # published, nothing lost, none twice, stock exact, replay = live, progress resumed


def test_two_brokers_down_refuses_then_resumes(cluster):
    settings, stack = cluster
    r = fo.refusal(settings, stack)
    assert all(len(isr) == 1 for isr in r.isr_when_down.values())
    # Refused, never accepted: 503 when the producer knew nothing left, else 504 delivery_unknown (the
    # service does not say "failed" for a record it handed to Kafka); either way nothing reached the log.
    answers = {(503, "broker_unavailable"), (504, "delivery_unknown")}
    assert r.refused and all((a.status, a.body["error"]) in answers for a in r.refused)
    assert all("Error" in a.body["detail"] for a in r.refused)  # names the Kafka error
    assert r.nothing_written
    assert [a.status for a in r.accepted] == [202] * len(r.accepted)
    assert r.accepted_with_result == len(r.accepted)


if __name__ == "__main__":  # the lab's documented command, kept: the evidence writer
    sys.exit(exit_status(main))
