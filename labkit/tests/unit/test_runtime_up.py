"""`up` of a native part: the services of a start group (a RabbitMQ cluster's nodes) are started together and
then waited for, so a node that waits at boot for the node that stopped last is never waited for before that
node is started; and a part running with other services than declared now (another BROKERS) is refused before
anything is prepared or written."""
import pytest

from common.errors import StackError
from common.settings import Settings
from labkit.runtime.control import Part, start_groups
from labkit.runtime.spec import Service, load_services

pytestmark = pytest.mark.unit

NODES = ("rabbitmq", "rabbitmq-2", "rabbitmq-3")


class Supervisor:
    """supervisord's XML-RPC as `Part` uses it: the programs it was started with, their states, what was asked."""

    def __init__(self, programs, running=()):
        self.states = {n: "RUNNING" if n in running else "STOPPED" for n in programs}
        self.started: list[str] = []
        self.stopped: list[str] = []

    def getAllProcessInfo(self):  # noqa: N802 - supervisord's name
        return [{"name": n, "statename": s} for n, s in self.states.items()]

    def getProcessInfo(self, name):  # noqa: N802
        return {"statename": self.states[name], "pid": 1}

    def startProcess(self, name, wait):  # noqa: N802
        if name not in self.states:
            raise AssertionError(f"supervisord has no program {name!r} (BAD_NAME)")
        self.states[name] = "RUNNING"
        self.started.append(name)
        return True

    def stopProcess(self, name, wait):  # noqa: N802
        self.states[name] = "STOPPED"
        self.stopped.append(name)
        return True

    def reloadConfig(self):  # noqa: N802
        return [[[], [], []]]


class Mnesia:
    """When a node of the cluster finishes its boot: the node that stopped last boots alone; every other node
    waits for it (`last=None`: every node was killed, and each waits until all are started)."""

    def __init__(self, rpc: Supervisor, last: str | None):
        self.rpc, self.last = rpc, last

    def booted(self, node: str) -> bool:
        if self.rpc.states[node] != "RUNNING":
            return False
        peers = [self.last] if self.last else list(NODES)
        return all(self.rpc.states[p] == "RUNNING" for p in peers)


def make_part(tmp_path, monkeypatch, rpc, services) -> Part:
    p = Part("async-rabbitmq", Settings(run_dir=tmp_path / "run"))
    p._services = services
    monkeypatch.setattr(p, "_rpc", lambda: rpc)
    monkeypatch.setattr(p, "alive", lambda: True)
    monkeypatch.setattr(p, "_capture_env", lambda svc, env: None)
    monkeypatch.setattr(p, "_port_owner_after_exit", lambda port: None)
    return p


def cluster_services(mnesia: Mnesia, prepared: list[str], group: str | None = "rabbitmq") -> list[Service]:
    def node(name):
        return Service(name, ["x"], ready=lambda: mnesia.booted(name), prepare=lambda: prepared.append(name),
                       startup_timeout_s=0.5, start_group=group)

    # the consumer needs the broker: it is started only once every node is up
    consumer = Service("inventory-service", ["x"], ready=lambda: all(mnesia.booted(n) for n in NODES))
    return [*(node(n) for n in NODES), consumer]


def test_start_groups_keeps_the_order_and_puts_a_group_together():
    svcs = [Service("a", []), Service("n1", [], start_group="g"), Service("n2", [], start_group="g"),
            Service("b", []), Service("c", [])]
    assert [[s.name for s in g] for g in start_groups(svcs)] == [["a"], ["n1", "n2"], ["b"], ["c"]]


@pytest.mark.parametrize("last", ["rabbitmq", "rabbitmq-2", "rabbitmq-3", None])
def test_up_starts_the_cluster_whichever_node_stopped_last(tmp_path, monkeypatch, last):
    """`make kill ... SERVICE=rabbitmq`, `make down` (node 2 stops last), `make up`: node 1 waited for node 2,
    which the runtime started only after node 1 was ready (never), and the next `up` did the same."""
    rpc = Supervisor([*NODES, "inventory-service"])
    prepared: list[str] = []
    part = make_part(tmp_path, monkeypatch, rpc, cluster_services(Mnesia(rpc, last), prepared))
    part.up(progress=lambda m: None)
    assert rpc.started == [*NODES, "inventory-service"] and prepared == list(NODES)


def test_started_one_by_one_node_1_waits_for_a_node_never_started(tmp_path, monkeypatch):
    """The same cluster without a start group: what `up` did before, and why it could not work."""
    rpc = Supervisor([*NODES, "inventory-service"])
    part = make_part(tmp_path, monkeypatch, rpc, cluster_services(Mnesia(rpc, "rabbitmq-2"), [], group=None))
    with pytest.raises(StackError, match="rabbitmq was not healthy"):
        part.up(progress=lambda m: None)
    assert rpc.started == ["rabbitmq"]


def test_a_booted_node_is_left_running_and_only_the_others_are_started(tmp_path, monkeypatch):
    rpc = Supervisor([*NODES, "inventory-service"], running=["rabbitmq"])
    prepared: list[str] = []
    part = make_part(tmp_path, monkeypatch, rpc, cluster_services(Mnesia(rpc, "rabbitmq"), prepared))
    part.up(progress=lambda m: None)
    assert rpc.stopped == [] and rpc.started == ["rabbitmq-2", "rabbitmq-3", "inventory-service"]


@pytest.mark.parametrize("running, declared", [(["rabbitmq"], NODES), (NODES, ["rabbitmq"])],
                         ids=["1-to-3", "3-to-1"])
def test_up_with_another_layout_is_refused_before_anything_is_prepared(tmp_path, monkeypatch, running, declared):
    """BROKERS=1 up, then BROKERS=3: node 2's storage was made, then supervisord answered BAD_NAME (a traceback)."""
    rpc = Supervisor([*running, "inventory-service"], running=[*running, "inventory-service"])
    prepared: list[str] = []
    services = [Service(n, ["x"], prepare=lambda n=n: prepared.append(n), ready=lambda: False) for n in declared]
    part = make_part(tmp_path, monkeypatch, rpc, [*services, Service("inventory-service", ["x"])])
    captured: list[str] = []
    monkeypatch.setattr(part, "_capture_env", lambda svc, env: captured.append(svc.name))
    for verb in (lambda: part.up(progress=lambda m: None), lambda: part.start(declared[-1])):
        with pytest.raises(StackError) as err:
            verb()
        message = str(err.value)
        assert "\n" not in message and "make down" in message and "rabbitmq-2" in message
    assert prepared == [] and captured == [] and rpc.started == [] and rpc.stopped == []


@pytest.mark.parametrize("part", ["async-rabbitmq", "streaming-kafka"])
def test_each_brokers_value_declares_its_own_programs(tmp_path, part):
    """What the refusal relies on: a part's programs differ with BROKERS (its nodes are services of their own)."""
    layouts = {n: {s.name for s in load_services(part, Settings(run_dir=tmp_path, cluster_size=n))} for n in (1, 3)}
    assert layouts[1] != layouts[3]


def test_the_rabbitmq_nodes_are_one_start_group(tmp_path):
    services = load_services("async-rabbitmq", Settings(run_dir=tmp_path, cluster_size=3))
    groups = [[s.name for s in g] for g in start_groups(services)]
    assert list(NODES) in groups
