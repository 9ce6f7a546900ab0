"""Part C's broker-failure scenarios on the three-broker cluster (BROKERS=3); each returns data.

`broker_failover`: kill -9 the broker that leads the most `OrderEvents` partitions during a `/bulk`, start it
again; every order ends with one result, the stock moves by the reserved units only, replay equals live.
`refusal`: two brokers down; the producer refuses (503) rather than confirm a write one broker alone holds,
and writes resume once a second broker is back. The evidence writer is `streaming_kafka.lab.evidence.failover`.
"""
from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import psutil
import requests

from common.settings import Settings
from common.vocabulary import OrderStatus
from labkit.progress import longest_pause
from labkit.stack import Stack, wait_for
from streaming_kafka.analytics_consumer.worker import replay
from streaming_kafka.kafka_io import KafkaError, TopicPartition, make_reader
from streaming_kafka.lab.broker.native import service_name
from streaming_kafka.lab.client import Client
from streaming_kafka.lab.scenarios import counts, delta, wait_caught_up
from streaming_kafka.topology import ORDER_TOPIC, admin_client


# ---------------------------------------------------------------------------------- cluster views
def partitions(settings: Settings, topic: str = ORDER_TOPIC, admin=None) -> dict[int, dict]:
    """partition -> {"leader", "replicas", "isr"} from the cluster's metadata (leader -1: none)."""
    own = admin is None
    admin = admin or admin_client(settings, request_timeout_ms=5_000)
    try:
        return {p.partition: {"leader": p.leader, "replicas": list(p.replicas), "isr": list(p.isr)}
                for p in admin.describe_topics([topic]).get(topic, [])}
    finally:
        if own:
            admin.close()


def try_partitions(settings: Settings) -> dict[int, dict] | None:
    """`partitions`, or None while the metadata cannot be had (a broker of the bootstrap list is down or
    starting: the admin client may pick it and fail); for polling."""
    try:
        return partitions(settings)
    except KafkaError:
        return None


def busiest_leader(parts: dict[int, dict]) -> int:
    """The broker leading the most partitions (the lowest node id on a tie)."""
    by_leader = Counter(p["leader"] for p in parts.values() if p["leader"] >= 0)
    return min(by_leader, key=lambda node: (-by_leader[node], node))


class Records:
    """How many records a topic holds (the sum of its partitions' end offsets), asked as often as needed."""

    def __init__(self, settings: Settings, topic: str = ORDER_TOPIC):
        self.consumer = make_reader(settings, client_id="lab-failover", request_timeout_ms=10_000)
        self.tps = [TopicPartition(topic, p) for p in sorted(self.consumer.partitions_for_topic(topic) or ())]

    def __call__(self) -> int:
        return sum(self.consumer.end_offsets(self.tps).values())

    def __enter__(self) -> "Records":
        return self

    def __exit__(self, *exc) -> None:
        self.consumer.close()


# ---------------------------------------------------------------------------------- sampling
@dataclass
class Sample:
    t: float  # seconds since the scenario's start
    processed: int | None  # reservation records in the inventory store (None: not answering)
    leaders: dict[int, int] | None  # OrderEvents partition -> leader (None: metadata unavailable)
    rss_mib: float = 0.0  # resident memory of every process of the stack


class Sampler(threading.Thread):
    """Every `interval` s: how many orders the inventory consumer has processed, who leads each partition, and
    the memory and CPU time of every process of the stack (the descendants of `root_pid`, its supervisord)."""

    def __init__(self, settings: Settings, client: Client, t0: float, interval: float = 0.5,
                 root_pid: int | None = None):
        super().__init__(daemon=True)
        self.settings, self.client, self.t0, self.interval = settings, client, t0, interval
        self.samples: list[Sample] = []
        self.done = threading.Event()
        self.root_pid = root_pid
        self.cpu: dict[int, float] = {}  # pid -> CPU seconds when last seen
        self.baseline: dict[int, float] | None = None  # pid -> CPU seconds at the first sample

    def _resources(self) -> float:
        if not self.root_pid:
            return 0.0
        rss = 0
        try:
            procs = psutil.Process(self.root_pid).children(recursive=True)
        except psutil.Error:
            return 0.0
        for proc in procs:
            try:
                rss += proc.memory_info().rss
                t = proc.cpu_times()
                self.cpu[proc.pid] = t.user + t.system + t.children_user + t.children_system
            except psutil.Error:
                continue
        if self.baseline is None:
            self.baseline = dict(self.cpu)
        return round(rss / 2**20, 1)

    def cpu_seconds(self) -> float:
        """CPU time the stack's processes spent while sampled (a process started meanwhile counts from 0)."""
        return round(sum(v - (self.baseline or {}).get(p, 0.0) for p, v in self.cpu.items()), 1)

    def run(self) -> None:
        admin = None
        while not self.done.is_set():
            t = round(time.perf_counter() - self.t0, 2)
            try:
                processed = sum(self.client.reservations()["counts"].values())
            except (requests.RequestException, ValueError, KeyError):
                processed = None
            try:
                admin = admin or admin_client(self.settings, request_timeout_ms=3_000)
                leaders = {p: v["leader"] for p, v in partitions(self.settings, admin=admin).items()}
            except (KafkaError, OSError, ValueError):
                leaders = None
                if admin is not None:
                    admin.close()
                admin = None
            self.samples.append(Sample(t, processed, leaders, self._resources()))
            self.done.wait(self.interval)
        if admin is not None:
            admin.close()

    def stop(self) -> list[Sample]:
        self.done.set()
        self.join()
        return self.samples


def progress_times(samples: list[Sample]) -> list[float]:
    """The times of the samples at which `processed` grew (the first known count included): Part C's progress,
    for `labkit.progress.longest_pause`. A sample without an answer (None) tells nothing."""
    out, last = [], None
    for s in samples:
        if s.processed is not None and (last is None or s.processed > last):
            out.append(s.t)
            last = s.processed
    return out


def stall_after(samples: list[Sample], killed_at: float) -> tuple[float, float, float]:
    """(from, to, seconds): the longest time without progress after the kill, as the evidence reports it. With
    no progress after the kill it is the empty (killed_at, killed_at, 0.0): `Failover.resumed` tells the two apart."""
    pause = longest_pause(progress_times(samples), since=killed_at)
    return pause.start, pause.end, round(pause.seconds, 2)


# ---------------------------------------------------------------------------------- scenario 1
@dataclass
class Failover:
    count: int
    victim: int  # node id killed
    leaders_before: dict[int, int]  # read to choose the victim
    leaders_at_kill: dict[int, int]  # read again from the broker just before the kill
    leaders_moved: dict[int, int]  # the first metadata after the kill in which the victim led nothing
    leaders_after: dict[int, int]
    killed_at: float  # seconds since the start
    leader_change_at: float | None
    restarted_at: float
    restart_seconds: float
    back_in_isr_at: float | None
    stall: tuple[float, float, float]  # (from, to, seconds) without progress after the kill
    bulk: dict  # the /bulk answer (published, seconds, ...) or {"error": ...}
    produced_when_killed: int
    processed_when_killed: int
    delta: dict
    stock_before: dict
    stock_after: dict
    store: dict
    lost: int
    replay_equals_live: bool
    seconds_to_lag0: float
    peak_rss_mib: float = 0.0  # the whole stack (three brokers, three services, supervisord's children)
    cpu_seconds: float = 0.0  # CPU time of the whole stack from the start to lag 0
    samples: list[Sample] = field(default_factory=list)

    @property
    def stock_used(self) -> dict:
        return {i: self.stock_before[i] - self.stock_after[i] for i in self.stock_before}

    @property
    def resumed(self) -> bool:
        """Observed, not implied by the stall's arithmetic: the stall ended at a sample taken after the kill that
        saw more orders processed than the count read just before the kill."""
        return any(s.t == self.stall[1] > self.killed_at and s.processed is not None
                   and s.processed > self.processed_when_killed for s in self.samples)

    @property
    def victim_partitions(self) -> list[int]:
        """The partitions the victim led when it was killed, by the broker's answer then (not by the choice)."""
        return sorted(p for p, n in self.leaders_at_kill.items() if n == self.victim)

    @property
    def stock_exact(self) -> bool:
        return all(self.stock_used[i] == self.delta["units"][i] == self.store["reserved_units"].get(i, 0)
                   for i in self.stock_before)

    def unmet(self) -> list[str]:
        """The guarantees this run broke, each with what was seen (empty: every one held). What the native and
        the docker failover tests assert."""
        d, n = self.delta, self.count
        held = {
            f"every event published ({self.bulk})": self.bulk.get("published") == n,
            f"the killed broker led partitions at the kill, and other brokers took them over (broker {self.victim}; "
            f"leaders at the kill {self.leaders_at_kill}, after {self.leaders_moved})":
                bool(self.victim_partitions) and all(self.leaders_moved.get(p, -1) not in (-1, self.victim)
                                                     for p in self.victim_partitions),
            f"nothing lost ({self.lost})": self.lost == 0,
            f"each order reserved or failed, none pending ({d})":
                d["orders"] == d["reserved"] + d["failed"] == n and d["pending"] == 0,
            f"one reservation record per event, none twice ({self.store['counts']})":
                sum(self.store["counts"].values()) == n,
            "stock arithmetic exact": self.stock_exact,
            "replay equals live": self.replay_equals_live,
            f"progress resumed after the kill (stall {self.stall}, kill at {self.killed_at} with "
            f"{self.processed_when_killed} processed)": self.resumed,
        }
        return [what for what, ok in held.items() if not ok]


def broker_failover(settings: Settings, stack: Stack, count: int, kill_after: float = 0.3) -> Failover:
    client = Client(settings)
    wait_caught_up(settings)
    stock_before = client.reset_stock()
    before = counts(client.metrics())
    parts = partitions(settings)
    leaders_before = {p: v["leader"] for p, v in parts.items()}
    victim = busiest_leader(parts)
    t0 = time.perf_counter()
    sampler = Sampler(settings, client, t0, root_pid=getattr(stack, "_part", None) and stack._part.supervisor_pid())
    sampler.start()
    bulk: dict = {}

    def run_bulk() -> None:
        try:
            bulk.update(client.bulk(count, 0.1))
        except requests.RequestException as exc:  # a refused /bulk is a result too: the test says so
            bulk["error"] = f"{type(exc).__name__}: {exc}"

    with Records(settings) as records:
        start = records()
        producer = threading.Thread(target=run_bulk, daemon=True)
        producer.start()
        # Killed while /bulk is still sending: the producer, both consumers and the offsets all lose a leader.
        produced = wait_for(lambda: (n := records() - start) >= count * kill_after and n, 300, interval=0.02,
                            what=f"{kill_after:.0%} of the events produced")
    processed = sum(client.reservations()["counts"].values())
    leaders_at_kill = {p: v["leader"] for p, v in partitions(settings).items()}  # what the kill hits, observed
    stack.kill(service_name(victim))
    killed_at = time.perf_counter() - t0

    def moved():
        if (parts := try_partitions(settings)) is None:
            return None
        leaders = {p: v["leader"] for p, v in parts.items()}
        return leaders if victim not in leaders.values() and min(leaders.values()) >= 0 else None
    leaders_moved = wait_for(moved, 120, interval=0.1, what=f"the partitions of broker {victim} led by the others")
    leader_change_at = time.perf_counter() - t0
    t_start = time.perf_counter()
    stack.start(service_name(victim))
    restarted_at = time.perf_counter() - t0
    restart_seconds = time.perf_counter() - t_start
    producer.join()
    wait_for(lambda: (p := try_partitions(settings)) and all(len(v["isr"]) == len(v["replicas"]) for v in p.values()),
             300,
             interval=0.2, what=f"broker {victim} back in every partition's ISR")
    back_in_isr_at = time.perf_counter() - t0
    wait_caught_up(settings, timeout=600)
    t_lag0 = time.perf_counter()
    samples = sampler.stop()
    killed_at = round(killed_at, 2)
    stall = stall_after(samples, killed_at)
    after = counts(client.metrics())
    d = delta(before, after)
    live = client.metrics_text()
    replayed = replay(settings)
    return Failover(
        count=count, victim=victim, leaders_before=leaders_before, leaders_at_kill=leaders_at_kill,
        leaders_moved=leaders_moved, leaders_after={p: v["leader"] for p, v in partitions(settings).items()},
        killed_at=killed_at, leader_change_at=round(leader_change_at, 2),
        restarted_at=round(restarted_at, 2), restart_seconds=round(restart_seconds, 2),
        back_in_isr_at=round(back_in_isr_at, 2), stall=stall, bulk=bulk,
        produced_when_killed=produced, processed_when_killed=processed, delta=d, stock_before=stock_before,
        stock_after=client.stock(),
        store=client.reservations(), lost=count - (d["reserved"] + d["failed"]),
        replay_equals_live=replayed.text == live, seconds_to_lag0=round(t_lag0 - t0, 2),
        peak_rss_mib=max(s.rss_mib for s in samples), cpu_seconds=sampler.cpu_seconds(), samples=samples)


# ---------------------------------------------------------------------------------- scenario 2
@dataclass
class Attempt:
    t: float
    status: int
    body: dict


@dataclass
class Refusal:
    stopped: list[str]
    isr_when_down: dict[int, list[int]]
    refused: list[Attempt]  # /order and /bulk while two brokers are down
    records_before: int  # OrderEvents records before the refused writes
    records_after: int  # ... and after them, with two brokers still down
    refused_order_ids_in_log: int  # refused orders that reached the log anyway (analytics knows them)
    restarted: str
    resumed_after_s: float  # from starting the broker to the first accepted write
    accepted: list[Attempt]
    accepted_with_result: int
    min_insync_replicas: int = 2

    @property
    def nothing_written(self) -> bool:
        return self.records_after == self.records_before and self.refused_order_ids_in_log == 0


def _post(client: Client, path: str, body: dict, t0: float) -> Attempt:
    resp = requests.post(f"{client.order_url}{path}", json=body, timeout=120)
    return Attempt(round(time.perf_counter() - t0, 2), resp.status_code, resp.json())


def refusal(settings: Settings, stack: Stack, orders: int = 3) -> Refusal:
    """Stop two of the three brokers (a clean stop: each hands its partitions over and leaves the ISR while the
    quorum still stands), try to write, then start one again and write until it is accepted."""
    client = Client(settings)
    wait_caught_up(settings)
    order = {"student_id": "failover", "item": "pizza", "quantity": 1}
    stopped = [service_name(n) for n in range(settings.cluster_size, 1, -1)][:2]
    for name in stopped:
        stack.stop(name)
    isr = wait_for(lambda: (p := try_partitions(settings)) and all(len(v["isr"]) == 1 for v in p.values()) and p,
                   60, interval=0.2, what="one in-sync replica left")
    with Records(settings) as records:
        records_before = records()
        t0 = time.perf_counter()
        refused = [_post(client, "/order", order, t0) for _ in range(orders)]
        refused.append(_post(client, "/bulk", {"count": 100, "fail_rate": 0.0}, t0))
        records_after = records()
    t_start = time.perf_counter()
    stack.start(stopped[-1])
    accepted: list[Attempt] = []
    while len(accepted) < orders:
        a = _post(client, "/order", order, t0)
        if a.status == 202:
            accepted.append(a)
        elif time.perf_counter() - t_start > 180:
            raise TimeoutError(f"writes did not resume within 180 s; last answer {a.status} {a.body}")
    resumed = accepted[0].t - (t_start - t0)
    stack.start(stopped[0])
    wait_caught_up(settings)
    ids = [a.body.get("order_id") for a in refused if a.body.get("order_id")]
    in_log = sum(client.order_status(i) is not None for i in ids)
    with_result = sum((s := client.order_status(a.body["order_id"])) is not None and s["status"] != OrderStatus.PENDING
                      for a in accepted)
    return Refusal(stopped, {p: v["isr"] for p, v in isr.items()}, refused, records_before, records_after,
                   in_log, stopped[-1], round(resumed, 2), accepted, with_result)
