"""A part's evidence command picks its writer by the first argument and passes the rest on."""
import pytest

from labkit.evidence import run_writer

pytestmark = pytest.mark.unit


def test_the_named_writer_runs_with_the_rest_and_the_first_is_the_default():
    calls = []
    writers = {"scenarios": lambda argv: calls.append(("scenarios", argv)) or 0,
               "chaos": lambda argv: calls.append(("chaos", argv)) or 3}
    assert run_writer(writers, ["chaos", "--rounds", "2"]) == 3
    assert run_writer(writers, ["--runtime", "docker"]) == 0
    assert run_writer(writers, []) == 0
    assert calls == [("chaos", ["--rounds", "2"]), ("scenarios", ["--runtime", "docker"]), ("scenarios", [])]


def test_the_evidence_goes_where_the_contract_says():
    """Each part's writers write into the part's own tests/ and metrics/ folders (CONTRACT.md's evidence files),
    not into the package folder beside the writer."""
    from async_rabbitmq.lab.evidence import chaos as b_chaos
    from async_rabbitmq.lab.evidence import failover as b_failover
    from async_rabbitmq.lab.evidence import scenarios as b
    from common.settings import ROOT
    from streaming_kafka.lab.evidence import chaos as c_chaos
    from streaming_kafka.lab.evidence import failover as c_failover
    from streaming_kafka.lab.evidence import scenarios as c
    from sync_rest.lab.evidence import scenarios as a

    assert [m.OUTPUT.relative_to(ROOT).as_posix() for m in (a, b, c)] == [
        "sync-rest/tests/test_output.txt", "async-rabbitmq/tests/test_output.txt", "streaming-kafka/tests/test_output.txt"]
    assert c.REPLAY_EVIDENCE == ROOT / "streaming-kafka" / "tests" / "replay_evidence.txt"
    assert c.METRICS_OUTPUT == ROOT / "streaming-kafka" / "metrics" / "metrics_output.json"
    assert a.DOCKER_OUTPUT == ROOT / "sync-rest" / "tests" / "docker" / "test_output.txt"
    assert b.DOCKER_OUTPUT == ROOT / "async-rabbitmq" / "tests" / "docker" / "test_output.txt"
    assert c.DOCKER_DIR == ROOT / "streaming-kafka" / "tests" / "docker"
    for m, part in ((b_chaos, "async-rabbitmq"), (b_failover, "async-rabbitmq"), (c_chaos, "streaming-kafka"),
                    (c_failover, "streaming-kafka")):
        assert m.OUTPUT.parent == ROOT / part / "tests" and m.OUTPUT.exists(), m.OUTPUT  # committed evidence
    assert all(m.OUTPUT.exists() for m in (a, b, c))
    assert {m.PLOT.parent for m in (b_failover, c_failover)} == {ROOT / "docs" / "img"}
