"""`down` of a native part: services stop in reverse start order, and the services of one stop group (the
nodes of a KRaft quorum) are all sent their stop signal before any of them is waited for. Stopped one by one,
the last nodes of a quorum lose their majority and hang in their controlled shutdown until SIGKILL (make test
saw two 60 s kills when tearing down a five-node cluster)."""
import pytest

from common.settings import Settings
from labkit.runtime.control import Part
from labkit.runtime.spec import Service

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

    def getAllProcessInfo(self):  # noqa: N802
        return [{"name": n, "statename": s} for n, s in self.states.items()]

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


def test_a_running_cluster_is_seen_without_brokers_so_down_stops_node_1_last(tmp_path, monkeypatch):
    """`make demo` stopped Part B's cluster with the single-node service list: supervisord's shutdown then
    stopped nodes 2 and 3 after node 1, and node 1 waited for their tables at its next start (120 s, failed)."""
    from labkit.runtime.spec import load_services

    settings = Settings(run_dir=tmp_path / "run")
    assert [s.name for s in load_services("async-rabbitmq", settings)][:2] == ["rabbitmq", "inventory-service"]
    programs = {"rabbitmq": "RUNNING", "rabbitmq-2": "RUNNING", "rabbitmq-3": "RUNNING"}
    monkeypatch.setattr(Part, "alive", lambda self: True)
    monkeypatch.setattr(Part, "state", lambda self, name: programs.get(name, "UNKNOWN"))
    names = [s.name for s in load_services("async-rabbitmq", settings)]
    assert names[:3] == ["rabbitmq", "rabbitmq-2", "rabbitmq-3"]  # down goes in reverse: node 1 last


def test_start_waits_for_the_port_of_its_own_killed_process_but_not_for_a_stranger(part, monkeypatch):
    """The chaos ring restarted RabbitMQ 0.02 s after its kill -9 and was told 5672 was in use: supervisord saw
    the process gone before the kernel had freed its socket."""
    import labkit.runtime.control as control

    holders = iter(["another process", "another process", None])
    monkeypatch.setattr(control, "port_owner", lambda port: next(holders))
    monkeypatch.setattr(control, "listening_pid", lambda port: None)  # exiting: no listener pid any more
    assert part._port_owner_after_exit(5672, wait_s=5) is None
    monkeypatch.setattr(control, "port_owner", lambda port: "pid 4242 (nc -l 5672)")
    monkeypatch.setattr(control, "listening_pid", lambda port: 4242)
    monkeypatch.setattr(part, "supervisor_pid", lambda: 1)
    monkeypatch.setattr(control.psutil, "Process", lambda pid: type("P", (), {"parents": lambda self: []})())
    assert part._port_owner_after_exit(5672, wait_s=5) == "pid 4242 (nc -l 5672)"  # at once: not ours


def test_down_with_another_brokers_stops_the_running_cluster_in_its_own_layout(tmp_path, monkeypatch):
    """`make down BROKERS=1` while a three-broker KRaft cluster runs: node 1 was stopped alone and nodes 2 and 3
    were left to supervisord's shutdown, one by one (the last hangs without a quorum until SIGKILL)."""
    programs = ["kafka", "kafka-2", "kafka-3", "inventory-consumer", "inventory-consumer-2", "analytics-consumer",
                "producer-order", "dashboard"]
    rpc = Supervisor(programs)
    rpc.states["inventory-consumer-2"] = "STOPPED"  # the scale-out profile: not started by up
    p = Part("streaming-kafka", Settings(run_dir=tmp_path / "run", cluster_size=1))
    monkeypatch.setattr(p, "_rpc", lambda: rpc)
    monkeypatch.setattr(p, "alive", lambda: True)
    monkeypatch.setattr(p, "_cleanup_all", lambda: None)
    p.down(progress=lambda m: None)
    assert rpc.calls[-3:] == [("kafka-3", False), ("kafka-2", False), ("kafka", False)]
    assert set(rpc.states.values()) == {"STOPPED"}
