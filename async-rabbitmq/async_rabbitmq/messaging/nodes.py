"""Part B's broker nodes as the settings describe them: one node by default, a cluster with BROKERS=N.

Pure data, shared by the native runner (which starts the nodes), the clients
(which know every node and fail over between them) and the scenario scripts.
Node 1 keeps the configured ports; node i adds (i - 1) * RABBITMQ_NODE_STEP to
each of them, so a cluster stays inside whatever port range the settings give.
All nodes share one epmd (RABBITMQ_EPMD_PORT): that is how they find each other.
The compose cluster names its nodes outright instead (RABBITMQ_NODES): there
each node is a host of its own.
"""
from __future__ import annotations

from dataclasses import dataclass

from common.settings import Settings


@dataclass(frozen=True)
class Node:
    index: int  # 1-based
    service: str  # the runtime's service name: "rabbitmq" for node 1, "rabbitmq-<i>" for the others
    nodename: str  # Erlang node name, e.g. foodlab1@localhost
    host: str
    amqp_port: int
    mgmt_port: int
    dist_port: int
    dir_name: str  # its folder under .run/async-rabbitmq/


def nodes(settings: Settings) -> list[Node]:
    s = settings
    if s.rabbitmq_nodes:
        return named_nodes(s)
    if s.cluster_size == 1:
        return [Node(1, "rabbitmq", s.rabbitmq_nodename, s.rabbitmq_host, s.rabbitmq_port, s.rabbitmq_mgmt_port,
                     s.rabbitmq_dist_port, "rabbitmq")]
    name, _, host = s.rabbitmq_nodename.partition("@")
    out = []
    for i in range(1, s.cluster_size + 1):
        step = (i - 1) * s.rabbitmq_node_step
        out.append(Node(i, "rabbitmq" if i == 1 else f"rabbitmq-{i}", f"{name}{i}@{host or 'localhost'}",
                        s.rabbitmq_host, s.rabbitmq_port + step, s.rabbitmq_mgmt_port + step,
                        s.rabbitmq_dist_port + step, f"rabbitmq-{i}"))
    return out


def named_nodes(settings: Settings) -> list[Node]:
    """The nodes RABBITMQ_NODES names (the compose cluster: each node its own host, e.g. rabbit@rabbitmq-2 on
    rabbitmq-2:5672 inside the network, or `rabbit@rabbitmq-2=127.0.0.1:5682:15682` through the published ports)."""
    s = settings
    out = []
    for i, entry in enumerate(s.rabbitmq_nodes.split(","), start=1):
        nodename, _, where = entry.partition("=")
        host, amqp, mgmt = ([*where.split(":"), "", ""][:3] if where else [nodename.partition("@")[2], "", ""])
        out.append(Node(i, "rabbitmq" if i == 1 else f"rabbitmq-{i}", nodename, host, int(amqp or s.rabbitmq_port),
                        int(mgmt or s.rabbitmq_mgmt_port), s.rabbitmq_dist_port, f"rabbitmq-{i}"))
    return out


def by_nodename(settings: Settings, nodename: str) -> Node | None:
    return next((n for n in nodes(settings) if n.nodename == nodename), None)


def queue_type(settings: Settings) -> str:
    """Quorum queues on a cluster (replicated, Raft), classic on one node, unless RABBITMQ_QUEUE_TYPE says."""
    return settings.rabbitmq_queue_type or ("quorum" if settings.cluster_size > 1 else "classic")


class NodeOrder:
    """Which node a long-lived client tries next (indexes into `nodes()`), as pure bookkeeping.

    A fresh client starts at node 1 (where `failover.use_queue_type` expects every client) and stays on a node
    while it works. After a failure (a refused or timed-out connection, or one that was lost) the next attempt
    starts at the next node, and a node that failed within the last `quarantine_s` is tried only after every
    other one. Natively a dead node refuses at once; under Docker its name stops resolving (and pika, given a
    list, gave up on the whole list there), and an address that is gone may answer nothing until a timeout:
    trying it first on every reconnect costs that each time, and stalled the clients until it came back.
    """

    def __init__(self, count: int, quarantine_s: float = 30.0):
        self.count = count
        self.quarantine_s = quarantine_s
        self._start = 0
        self._failed_at: dict[int, float] = {}

    def order(self, now: float) -> list[int]:
        rotation = [(self._start + k) % self.count for k in range(self.count)]
        recent = {i for i in rotation if now - self._failed_at.get(i, float("-inf")) < self.quarantine_s}
        # the recently failed last, the one that failed longest ago first among them
        return [i for i in rotation if i not in recent] + sorted(recent, key=self._failed_at.__getitem__)

    def failed(self, index: int, now: float) -> None:
        self._failed_at[index] = now
        if index == self._start:
            self._start = (index + 1) % self.count

    def succeeded(self, index: int) -> None:
        self._failed_at.pop(index, None)
        self._start = index
