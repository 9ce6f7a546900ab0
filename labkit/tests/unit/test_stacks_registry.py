"""The session's one running stack (labkit.testing.Stacks): another stack stops it first, and every start and
stop is timed for the session's summary."""
import pytest

from labkit.testing import Stacks

pytestmark = pytest.mark.unit


def test_one_stack_at_a_time_each_start_and_stop_timed():
    events: list[str] = []
    stacks = Stacks()

    def starter(name):
        def start():
            events.append(f"start {name}")
            return name, lambda: events.append(f"stop {name}")
        return start

    assert stacks.get("sync-rest", "native", starter("a")) == "a"
    assert stacks.get("sync-rest", "native", starter("again")) == "a"  # kept: not started twice
    assert stacks.get("sync-rest", "docker", starter("b")) == "b"
    stacks.release()
    stacks.release()  # nothing left to stop
    assert events == ["start a", "stop a", "start b", "stop b"]
    assert [t[:3] for t in stacks.timings] == [("start", "sync-rest", "native"), ("stop", "sync-rest", "native"),
                                               ("start", "sync-rest", "docker"), ("stop", "sync-rest", "docker")]
    assert all(t[3] >= 0 for t in stacks.timings)
    assert stacks.summary() == [f"{v} sync-rest ({r}): 1 x, 0 s" for v, r in
                                (("start", "native"), ("stop", "native"), ("start", "docker"), ("stop", "docker"))]


@pytest.mark.parametrize(("inherited", "passed_on"), [("127.0.0.1:19092", "127.0.0.1:19092"),
                                                      ("127.0.0.1:29092,127.0.0.1:29094", None)])
def test_runtime_cli_keeps_one_bootstrap_address_and_drops_a_broker_list(monkeypatch, tmp_path, inherited, passed_on):
    """A session on ports of its own (the Part C lane of `make test`) gives its first broker's port: the CLI's
    cluster must start there, not on the default. A list would contradict the BROKERS the caller asks for."""
    import labkit.testing as testing

    seen = {}
    monkeypatch.setattr(testing.subprocess, "run", lambda cmd, env, **kw: seen.update(env))
    monkeypatch.setenv("KAFKA_BOOTSTRAP", inherited)
    monkeypatch.setenv("BROKERS", "3")
    testing.runtime_cli(tmp_path, "up", "streaming-kafka", brokers=1)
    assert seen.get("KAFKA_BOOTSTRAP") == passed_on
    assert seen["BROKERS"] == "1" and seen["RUN_DIR"] == str(tmp_path)
