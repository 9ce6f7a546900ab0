"""Part B's failover scenarios on the three-node cluster (BROKERS=3): kill -9 the node that leads
`inventory_orders` during a paced load of orders, hold it down, start it again; then account for every order.

Run once with quorum queues (the cluster's default) and once with classic queues on the same cluster
(`use_queue_type` redeclares the topology). Each returns a `FailoverResult`; the evidence writer
(`async_rabbitmq.lab.evidence.failover`), the pytest assertions and the plot read it. Nothing prints.

Progress is measured from durable data, not sampled: each order's final state carries the time the
order-service applied it (`updated_at`), so "orders flow again" is the end of the longest pause in final
states that began while the node was down, whatever the sampling rate.
"""
from __future__ import annotations

import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests

from async_rabbitmq.lab.broker.native import NativeBroker
from async_rabbitmq.lab.client import Client
from async_rabbitmq.messaging import topology
from async_rabbitmq.messaging.nodes import by_nodename, nodes
from common.menu import ITEMS
from common.vocabulary import OrderStatus
from labkit.progress import longest_pause
from labkit.stack import Stack, wait_for

INVENTORY, NOTIFICATION, ORDER = "inventory-service", "notification-service", "order-service"
CLIENTS = (INVENTORY, NOTIFICATION, ORDER)


@dataclass
class FailoverResult:
    queue_type: str
    n: int
    rate: float  # orders per second the load placed (paced)
    down_s: float  # how long the killed node was held down before its restart began
    accepted_202: int
    killed_service: str
    killed_node: str
    leader_before: str
    # quorum: the leader the management API showed once the node was gone; classic: where the queue ran (queue_home)
    # at `home_probe_s`, halfway through the down time (None: on no node)
    leader_while_down: str | None
    leader_after: str | None  # where it runs once every order is final (queue_home)
    kill_s: float  # seconds from the start of the load
    leader_change_s: float | None
    home_probe_s: float | None  # classic: when leader_while_down was asked for
    restart_begun_s: float
    node_back_s: float
    resumed_s: float  # end of the longest pause in final states after the kill
    stall_s: float  # that pause
    restart_stall_s: float  # the longest pause from the restart on (a node rejoining costs CPU on 2 cores)
    all_final_s: float | None
    timeline: list[tuple[float, str]]
    accepted_at: list[float]  # seconds from the start of the load, one per 202
    final_at: list[float]  # one per order that reached a final state
    counts: dict
    lost: int  # accepted orders that never reached a final state
    reservation_records: int  # inventory's durable records since the stock reset: one per order
    reserved_twice: int
    duplicates_seen: int  # redeliveries the inventory recognised and ignored
    arithmetic: dict
    arithmetic_exact: bool
    members_online_after: list = field(default_factory=list)
    clients_at_kill: list = field(default_factory=list)  # "<service>@<node>" of each AMQP connection
    # the management API's leader (quorum) or node (classic) of inventory_orders read just before the kill: the
    # victim is chosen from `leader_before`, so only this says whom the kill hit
    leader_at_kill: str | None = None

    @property
    def resumed_after_kill_s(self) -> float:
        return round(self.resumed_s - self.kill_s, 2)

    @property
    def flowed_while_down(self) -> bool:
        """Orders reached a final state after the kill and before the restart began, and the longest pause in
        between ended before the restart. Read from the orders' final times: the pause alone cannot tell, as it
        ends at the kill itself when nothing at all was final after it."""
        return (any(self.kill_s < t < self.restart_begun_s for t in self.final_at)
                and self.resumed_s < self.restart_begun_s)

    def unmet(self) -> list[str]:
        """The guarantees on orders this run broke, each with what was seen (empty: every one held). What the
        native and the docker failover tests assert."""
        held = {
            f"every order accepted ({self.accepted_202} of {self.n})": self.accepted_202 == self.n,
            f"nothing lost, every order final ({self.lost} lost, {self.counts})":
                self.lost == 0 and sum(self.counts.values()) == self.n,
            f"one reservation record per order, none twice ({self.reservation_records}, {self.reserved_twice})":
                self.reservation_records == self.n and self.reserved_twice == 0,
            f"stock arithmetic exact ({self.arithmetic})": self.arithmetic_exact,
        }
        return [what for what, ok in held.items() if not ok]


def use_queue_type(stack: Stack, lab: Client, queue_type: str, fresh: bool = False) -> None:
    """Make every Part B queue `queue_type` on the running cluster: stop the clients, delete the (idle) queues,
    start the clients with RABBITMQ_QUEUE_TYPE so they declare them anew. The clients connect to node 1 first,
    so fresh queues are led by (quorum) or live on (classic) node 1, where every client is connected."""
    if lab.queue_info().get("type") == queue_type and not fresh:
        return
    lab.wait_idle()
    for svc in reversed(CLIENTS):
        stack.stop(svc)
    for q in topology.QUEUES:
        for node in nodes(lab.settings):
            try:
                r = requests.delete(f"http://{node.host}:{node.mgmt_port}/api/queues/%2F/{q.name}", auth=lab.auth,
                                    timeout=10)
                if r.status_code in (204, 404):
                    break
            except requests.RequestException:
                continue
    for svc in CLIENTS:
        stack.start(svc, env={"RABBITMQ_QUEUE_TYPE": queue_type})
    wait_for(lambda: _queue_info(lab).get("type") == queue_type, 30, interval=0.2,
             what=f"inventory_orders to be a {queue_type} queue")


def _paced_load(lab: Client, n: int, rate: float, quantities: list[int], t0: float, rows: list) -> None:
    """n orders at `rate` per second (items round-robin), from a few client threads; appends one row each."""
    def one(i):
        item = ITEMS[i % len(ITEMS)]
        status, body, _ms = lab.place(item, quantities[i], f"s-{i % 97}")
        rows.append((status, body.get("order_id"), item, quantities[i], time.monotonic() - t0))
    with ThreadPoolExecutor(4) as pool:
        for i in range(n):
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, i)


def ctl(settings, node, *args: str, stack: Stack | None = None, timeout: float = 30):
    """`rabbitmqctl` on one node: in its container on a compose stack, else the native CLI (with its cookie)."""
    if stack is not None and stack.runtime == "docker":
        return stack.exec(node.service, "rabbitmqctl", *args, timeout=timeout)
    return NativeBroker(settings, node=node).ctl(*args, timeout=timeout)


def queue_home(settings, queue: str = topology.INVENTORY_ORDERS, stack: Stack | None = None) -> str | None:
    """Where the queue runs, by the broker's own answer (`rabbitmqctl`): the leader of a quorum queue, or the node
    whose `list_queues --local` lists a classic queue (its queue process runs there). None while no live node runs
    it: a durable classic queue whose node is down stays defined but runs nowhere until that node is back.

    Not the management API: its answer for a queue merges the statistics each node keeps, and those of a deleted
    queue of the same name (what `use_queue_type` leaves behind) or of the queue before its node was killed can
    linger. Not the `pid` column either: the JSON formatter prints it as `#PID<11017.945.0>`, without the node."""
    down = []
    for node in nodes(settings):
        out = ctl(settings, node, "list_queues", "name", "type", "leader", "-q", "--formatter", "json", stack=stack)
        if out.returncode != 0:
            down.append(node)
            continue
        row = next((r for r in json.loads(out.stdout or "[]") if r.get("name") == queue), None)
        if row is None:
            return None
        if row.get("type") == "quorum":
            return row.get("leader") or None
        break
    for node in (n for n in nodes(settings) if n not in down):
        out = ctl(settings, node, "list_queues", "--local", "name", "-q", "--formatter", "json", stack=stack)
        if out.returncode == 0 and any(r.get("name") == queue for r in json.loads(out.stdout or "[]")):
            return node.nodename
    return None


def _queue_info(lab: Client) -> dict:
    """The management API's view of inventory_orders, or {} while no node answers (a node is being killed)."""
    try:
        return lab.queue_info()
    except requests.RequestException:
        return {}


def node_failover(stack: Stack, lab: Client, n: int, rate: float, kill_at: float = 0.3, down_s: float = 10.0,
                  seed: int = 11, timeout: float = 300) -> FailoverResult:
    """Paced load; at `kill_at` of it, kill -9 the node leading inventory_orders; start it after `down_s`."""
    lab.wait_idle()
    rng = random.Random(seed)
    quantities = [rng.randint(1, 3) for _ in range(n)]
    initial = {item: max(1, int(0.4 * n)) for item in ITEMS}  # about the demand: both outcomes happen
    lab.reset_stock(initial)
    dup0 = lab.health(lab.inventory_url)["stats"]["duplicates"]
    q = lab.queue_info()
    queue_type, leader_before = q["type"], queue_home(lab.settings, stack=stack)
    node = by_nodename(lab.settings, leader_before or "")
    if node is None:
        raise RuntimeError(f"inventory_orders runs on {leader_before}, not on one of this stack's nodes")

    t0 = time.monotonic()
    wall0 = time.time()
    timeline: list[tuple[float, str]] = []

    def mark(what: str) -> float:
        t = round(time.monotonic() - t0, 2)
        timeline.append((t, what))
        return t

    rows: list = []
    mark(f"load starts: {n} orders at {rate:g}/s; inventory_orders ({queue_type}) led by {leader_before}")
    load = threading.Thread(target=_paced_load, args=(lab, n, rate, quantities, t0, rows), daemon=True)
    load.start()
    wait_for(lambda: len(rows) >= kill_at * n, timeout, interval=0.05, what=f"{kill_at:.0%} of the load placed")
    clients = sorted(f"{c.get('client_properties', {}).get('connection_name', '?')}@{c.get('node')}"
                     for c in lab.mgmt("connections"))
    leader_at_kill = _queue_info(lab).get("leader")
    stack.kill(node.service)
    kill_s = mark(f"kill -9 {node.service} ({node.nodename}), the node leading inventory_orders")

    leader_change_s, leader_while_down, home_probe_s = None, None, None
    while time.monotonic() - t0 < kill_s + down_s:
        if queue_type == "quorum":
            leader = _queue_info(lab).get("leader")
            if leader_change_s is None and leader and leader != node.nodename:
                leader_while_down = leader
                leader_change_s = mark(f"leader change: inventory_orders now led by {leader}")
        elif home_probe_s is None and time.monotonic() - t0 >= kill_s + down_s / 2:
            # by now the clients have failed over to the other nodes and re-declared their queues (refused:
            # 404, the home node of the durable queue is down), so this is where the queue runs meanwhile
            leader_while_down = queue_home(lab.settings, stack=stack)
            home_probe_s = mark(f"inventory_orders runs on {leader_while_down or 'no node'} while "
                                f"{node.nodename} is down (rabbitmqctl list_queues --local on the live nodes)")
        time.sleep(0.1)
    restart_begun_s = mark(f"start {node.service} again")
    stack.start(node.service)
    node_back_s = mark(f"{node.service} healthy and back in the cluster")
    if queue_type == "quorum":  # its replica catches up from the log of the new leader
        try:
            wait_for(lambda: len(_queue_info(lab).get("online") or []) == len(nodes(lab.settings)), 60,
                     interval=0.2, what="every replica of inventory_orders online")
            mark(f"the replica on {node.nodename} is online again (a follower)")
        except TimeoutError:
            mark("not every replica of inventory_orders was online 60 s after the restart")
    load.join(timeout)
    if rows:
        timeline.append((round(max(r[4] for r in rows), 2), f"last of the {len(rows)} orders accepted (202)"))

    ids = [r[1] for r in rows if r[1]]
    lab.wait_final(ids, timeout)
    lab.wait_idle(timeout=timeout)
    final = lab.lookup(ids)["orders"]
    final_at = sorted(doc["updated_at"] - wall0 for doc in final.values() if doc["status"] != OrderStatus.PENDING)
    pause = longest_pause(final_at, since=kill_s, until=restart_begun_s)
    timeline.append((round(pause.end, 2), f"orders flow again (end of the longest pause while the node was down, "
                                         f"{pause.seconds:.2f} s)" if pause.end > kill_s else
                     "no order reached a final state after the kill"))
    restart_pause = longest_pause(final_at, since=restart_begun_s)
    timeline.sort()
    counts: dict[str, int] = {}
    for doc in final.values():
        counts[doc["status"]] = counts.get(doc["status"], 0) + 1
    lost = len(ids) - sum(v for k, v in counts.items() if k != OrderStatus.PENDING)

    stock = lab.stock()
    confirmed_units = {item: 0 for item in ITEMS}
    for r in rows:
        if r[1] and final.get(r[1], {}).get("status") == OrderStatus.CONFIRMED:
            confirmed_units[r[2]] += r[3]
    arithmetic = {item: {"initial": initial[item], "confirmed_units": confirmed_units[item], "final": stock[item],
                         "exact": initial[item] - confirmed_units[item] == stock[item]} for item in ITEMS}
    records = sum(lab.reservations()["counts"].values())
    after = lab.queue_info()
    after["leader"] = queue_home(lab.settings, stack=stack)
    return FailoverResult(
        queue_type=queue_type, n=n, rate=rate, down_s=down_s, accepted_202=[r[0] for r in rows].count(202),
        killed_service=node.service, killed_node=node.nodename, leader_before=leader_before,
        leader_while_down=leader_while_down, leader_after=after.get("leader"), kill_s=kill_s,
        leader_change_s=leader_change_s, home_probe_s=home_probe_s, restart_begun_s=restart_begun_s, node_back_s=node_back_s,
        resumed_s=round(pause.end, 2), stall_s=round(pause.seconds, 2),
        restart_stall_s=round(restart_pause.seconds, 2),
        all_final_s=round(final_at[-1], 2) if final_at else None, timeline=timeline,
        accepted_at=sorted(r[4] for r in rows if r[0] == 202), final_at=[round(t, 3) for t in final_at],
        counts=counts, lost=lost, reservation_records=records, reserved_twice=max(0, records - len(ids)),
        duplicates_seen=lab.health(lab.inventory_url)["stats"]["duplicates"] - dup0, arithmetic=arithmetic,
        arithmetic_exact=all(a["exact"] for a in arithmetic.values()),
        members_online_after=sorted(after.get("online") or []), clients_at_kill=clients,
        leader_at_kill=leader_at_kill,
    )


def run_both(stack: Stack, lab: Client, full: bool = True, progress=lambda _m: None) -> dict[str, FailoverResult]:
    """Quorum first, then classic on the same cluster, then quorum again (the cluster's default)."""
    n, rate, down_s = (5_000, 250.0, 15.0) if full else (300, 30.0, 8.0)
    out = {}
    try:
        for queue_type in ("quorum", "classic"):
            progress(f"failover with {queue_type} queues: {n} orders ...")
            # Fresh queues for each run: the killed leader is node 1, which also holds every client connection
            # (the worst case: the clients must fail over too), whatever earlier runs left behind.
            use_queue_type(stack, lab, queue_type, fresh=True)
            out[queue_type] = node_failover(stack, lab, n, rate, down_s=down_s)
            progress(f"failover with {queue_type} queues: orders flowed again "
                     f"{out[queue_type].resumed_after_kill_s} s after the kill")
    finally:
        use_queue_type(stack, lab, "quorum")
    return out
