"""`down` of a native part: services stop in reverse start order, and the services of one stop group (the
nodes of a KRaft quorum) are all sent their stop signal before any of them is waited for. Stopped one by one,
the last nodes of a quorum lose their majority and hang in their controlled shutdown until SIGKILL (make test
saw two 60 s kills when tearing down a five-node cluster)."""
import pytest

from common.runtime.control import Part
from common.runtime.spec import Service
from common.settings import Settings

pytestmark = pytest.mark.unit


class Supervisor:
    """supervisord's XML-RPC as `Part` uses it; a process asked to stop without waiting stops a moment later."""

    def __init__(self, names):
        self.states = {n: "RUNNING" for n in names}
        self.calls = []
        self.pending = set()

    def stopProcess(self, name, wait):  # noqa: N802 - supervisord's name
        self.calls.append((name, wait))
        if wait:
            self.states[name] = "STOPPED"
        else:
            self.pending.add(name)
        return True

    def getProcessInfo(self, name):  # noqa: N802
        state = self.states[name]
        if name in self.pending:  # the next look finds it stopped
            self.pending.discard(name)
            self.states[name] = "STOPPED"
        return {"statename": state, "pid": 1}

    def getPID(self):  # noqa: N802
        return 999_999_999

    def shutdown(self):
        pass


@pytest.fixture
def part(tmp_path, monkeypatch):
    services = [Service("kafka", ["x"], stop_group="kafka"), Service("kafka-2", ["x"], stop_group="kafka"),
                Service("kafka-3", ["x"], stop_group="kafka"), Service("inventory-consumer", ["x"]),
                Service("producer-order", ["x"])]
    p = Part("streaming-kafka", Settings(run_dir=tmp_path / "run"))
    p._services = services
    rpc = Supervisor([s.name for s in services])
    monkeypatch.setattr(p, "_rpc", lambda: rpc)
    monkeypatch.setattr(p, "alive", lambda: True)
    monkeypatch.setattr(p, "_cleanup_all", lambda: None)
    p.rpc = rpc
    return p


def test_down_stops_a_stop_group_together_after_the_rest_in_reverse_order(part):
    part.down(progress=lambda m: None)
    assert part.rpc.calls == [("producer-order", True), ("inventory-consumer", True),
                              ("kafka-3", False), ("kafka-2", False), ("kafka", False)]
    assert set(part.rpc.states.values()) == {"STOPPED"}


def test_a_service_already_down_is_not_stopped_again(part):
    part.rpc.states["kafka-2"] = "EXITED"
    part.down(progress=lambda m: None)
    assert ("kafka-2", False) not in part.rpc.calls and ("kafka-3", False) in part.rpc.calls
