"""Part B's scenarios: each drives the real stack (through `labkit.stack`) and returns a dataclass; nothing prints.

Every scenario takes `(stack, client, <scale and knobs as keywords>)`, as in Parts A and C. The evidence writer
(`async_rabbitmq.lab.evidence`), the pytest assertions and the benchmarks read these results. Scale is a
parameter: the evidence runs the issue's sizes (FULL), pytest smaller ones (QUICK).
"""
from __future__ import annotations

import json
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from async_rabbitmq.lab.client import Client
from async_rabbitmq.messaging import topology
from async_rabbitmq.messaging.messages import OrderPlaced
from common.faults import fault_env
from common.ids import generate_event_id, generate_order_id
from common.menu import INITIAL_STOCK, ITEMS
from common.settings import Settings
from common.vocabulary import OrderStatus
from labkit.stack import Stack, run_steps, wait_for
from labkit.stats import Summary, summarize

RABBITMQ, INVENTORY, NOTIFICATION, ORDER = "rabbitmq", "inventory-service", "notification-service", "order-service"
PLENTY = {item: 1_000_000 for item in ITEMS}
# Orders per scenario: the evidence run's scale, and pytest's.
FULL = {"backlog_small": 15, "backlog_big": 10_000, "crash": 5_000}
QUICK = {"backlog_small": 15, "backlog_big": 1_000, "crash": 1_000}


def _published(client: Client, want: int, timeout: float = 120) -> None:
    """Until the relay has handed every accepted order to the broker (the outbox is empty)."""
    wait_for(lambda: client.health(client.order_url)["outbox_backlog"] == 0, timeout, interval=0.2,
             what="the outbox to be published")
    wait_for(lambda: client.depth() >= want, timeout, interval=0.2, what=f"{want} messages in inventory_orders")


def _sample_until_empty(client: Client, t0: float, timeout: float, every: float = 0.25) -> list[tuple[float, int]]:
    samples = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        d = client.depth()
        samples.append((round(time.monotonic() - t0, 2), d))
        if d == 0:
            break
        time.sleep(every)
    return samples


def _consumer_rate(reservations: dict, n: int) -> float | None:
    """Reservations per second as the inventory consumer recorded them, first to last (stock was just reset)."""
    first, last = reservations.get("first_at"), reservations.get("last_at")
    if first is None or last is None or last <= first:
        return None
    return (n - 1) / (last - first)


# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BacklogDrain:
    n: int
    accepted_202: int
    statuses: list[int]  # the distinct HTTP statuses, sorted
    place_seconds: float
    place_rate: int
    latency_ms: Summary  # of the 202s
    depth_while_down: int  # from the broker (passive declare)
    mgmt_while_down: dict  # the management API's view of inventory_orders (Client.queue_info)
    inventory_restart_s: float
    samples: list[tuple[float, int]]  # (seconds since the restart began, depth)
    counts: dict[str, int]  # final states
    seconds_to_all_final: float
    end_to_end_rate: int | None
    consumer_rate: int


def backlog_drain(stack: Stack, client: Client, n: int = FULL["backlog_big"], threads: int = 8,
                  timeout: float = 300) -> BacklogDrain:
    """Stop inventory, place n orders (all 202), read the backlog from the broker, restart, sample the drain."""
    client.wait_idle()
    client.reset_stock(PLENTY)
    stack.stop(INVENTORY)
    placed = client.place_many(n, threads=threads)
    _published(client, n)
    depth_while_down = client.depth()
    mgmt_while_down = wait_for(lambda: (q := client.queue_info())["messages"] == depth_while_down and q, 15,
                               interval=0.5, what="the management API to show the backlog")
    t0 = time.monotonic()
    sampler = ThreadPoolExecutor(1).submit(_sample_until_empty, client, t0, timeout, 0.05 if n <= 100 else 0.25)
    stack.start(INVENTORY)
    started_s = time.monotonic() - t0
    samples = sampler.result()
    counts = client.wait_final(placed["ids"], timeout)
    final_s = time.monotonic() - t0
    after = client.reservations()
    return BacklogDrain(
        n=n, accepted_202=placed["statuses"].count(202), statuses=sorted(set(placed["statuses"])),
        place_seconds=round(placed["seconds"], 2), place_rate=round(placed["rate"]),
        latency_ms=summarize(placed["ms"]), depth_while_down=depth_while_down, mgmt_while_down=mgmt_while_down,
        inventory_restart_s=round(started_s, 2), samples=samples, counts=counts,
        seconds_to_all_final=round(final_s, 2), end_to_end_rate=round(n / final_s) if final_s else None,
        consumer_rate=round(_consumer_rate(after, n) or 0))


# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SameRun:
    """(a) an order processed, then its very OrderPlaced published again by hand."""
    order_id: str
    event_id: str
    status: int  # of POST /order
    order: dict  # GET /order/<id>
    stock_pizza: int
    expected_pizza: int
    logs: list[str]  # inventory's log lines for the event_id
    notifications: list[dict]


@dataclass(frozen=True)
class AcrossRestart:
    """(b) an event processed, inventory restarted, then the duplicate (queued while inventory was stopped)."""
    event_id: str
    depth_while_stopped: int
    stock_burger_before: int
    stock_burger: int
    expected_burger: int
    logs: list[str]


@dataclass(frozen=True)
class Idempotency:
    same_run: SameRun
    across_restart: AcrossRestart


def _wait_duplicates(client: Client, at_least: int, timeout: float = 30) -> dict:
    return wait_for(lambda: (h := client.health(client.inventory_url))["stats"]["duplicates"] >= at_least and h,
                    timeout, interval=0.1, what="the duplicate to be processed")


def idempotency(stack: Stack, client: Client) -> Idempotency:
    """The same OrderPlaced (same event_id) delivered twice; then twice with an inventory restart between."""
    client.wait_idle()
    client.reset_stock()
    # (a) back to back: the order goes out through the outbox, then the very same event is published again.
    status, body, _ = client.place("pizza", 3, "s-idem")
    oid, eid = body["order_id"], body["event_id"]
    client.wait_final([oid], 30)
    dup0 = client.health(client.inventory_url)["stats"]["duplicates"]
    note_dup0 = client.health(client.notification_url)["stats"]["duplicates"]
    duplicate = {"event_type": "OrderPlaced", "event_id": eid, "order_id": oid, "student_id": "s-idem",
                 "item": "pizza", "quantity": 3, "timestamp": time.time()}
    client.publish_raw([json.dumps(duplicate).encode()])
    _wait_duplicates(client, dup0 + 1)
    # inventory re-publishes the stored result (same event_id): the notification service must ignore it.
    wait_for(lambda: client.health(client.notification_url)["stats"]["duplicates"] > note_dup0, 30, interval=0.1,
             what="the notification service to see the re-published result")
    same_run = SameRun(order_id=oid, event_id=eid, status=status, order=client.order(oid)[1],
                       stock_pizza=client.stock()["pizza"], expected_pizza=INITIAL_STOCK["pizza"] - 3,
                       logs=_event_logs(stack, client, eid), notifications=client.notifications(oid))
    # (b) across a restart: first delivery processed, inventory restarted, then the duplicate.
    stock_before = client.stock()["burger"]
    event = {"event_type": "OrderPlaced", "event_id": generate_event_id(), "order_id": generate_order_id(),
             "student_id": "s-idem", "item": "burger", "quantity": 5, "timestamp": time.time()}
    client.publish_raw([json.dumps(event).encode()])
    wait_for(lambda: client.stock()["burger"] == stock_before - 5, 30, what="the first delivery to reserve")
    stack.stop(INVENTORY)
    client.publish_raw([json.dumps(event).encode()])
    depth_during_restart = client.depth()
    stack.start(INVENTORY)
    _wait_duplicates(client, 1)
    client.wait_idle()
    across = AcrossRestart(event_id=event["event_id"], depth_while_stopped=depth_during_restart,
                           stock_burger_before=stock_before, stock_burger=client.stock()["burger"],
                           expected_burger=stock_before - 5, logs=_event_logs(stack, client, event["event_id"]))
    return Idempotency(same_run, across)


def _event_logs(stack: Stack, client: Client, event_id: str) -> list[str]:
    return [f"{r.get('ts', '')} {r.get('msg')}" for r in client.log_lines(stack, INVENTORY, event_id)]


# ---------------------------------------------------------------------------------------------------------
def _order_placed(**fields) -> dict:
    """A good OrderPlaced's fields with `fields` changed (a poison one, as the tests make it)."""
    good = OrderPlaced.new(order_id=generate_order_id(), student_id="s-poison", item="pizza", quantity=1)
    return {**good.to_dict(), **fields}


def poison_messages(max_bytes: int) -> list[tuple[str, bytes]]:
    """(expected reason, body) for each kind of poison."""
    missing = _order_placed()
    del missing["quantity"]
    no_event_id = _order_placed()
    del no_event_id["event_id"]
    return [
        ("not_json", b"this is {not json"),
        ("not_json", b"\xff\xfe\x00binary"),
        ("too_deep", b"[" * 30_000 + b"]" * 30_000),  # 60 KB of nesting: a recursive parser would raise RecursionError
        ("not_an_object", b"[1, 2, 3]"),
        ("missing_field", json.dumps(missing).encode()),
        ("missing_field", json.dumps(no_event_id).encode()),
        ("invalid_field", json.dumps(_order_placed(quantity="2")).encode()),
        ("invalid_field", json.dumps(_order_placed(quantity=0)).encode()),
        ("unknown_item", json.dumps(_order_placed(item="sushi")).encode()),
        ("oversized", json.dumps(_order_placed(note="x" * (max_bytes + 10))).encode()),
    ]


@dataclass(frozen=True)
class PoisonSent:
    expected: str  # the reason the message should be dead-lettered with
    bytes: int


@dataclass(frozen=True)
class DeadLetters:
    sent: list[PoisonSent]
    dlq_depth: int
    dead_letters: list[dict]  # what orders_dlq held, in order (Client.take_dead_letters: reason, detail, bytes, body)
    good_orders: int
    good_counts: dict[str, int]
    inventory_queue: dict
    queue_arguments: dict


def dead_letters(stack: Stack, client: Client) -> DeadLetters:
    """Poison messages, with good orders between them: each poison in orders_dlq with its reason."""
    client.wait_idle()
    client.reset_stock()
    client.purge(topology.ORDERS_DLQ)
    poison = poison_messages(client.settings.max_message_bytes)
    good = []
    for _reason, body in poison:
        client.publish_raw([body])
        good.append(client.place("coffee", 1, "s-good")[1]["order_id"])
    counts = client.wait_final(good, 60)
    wait_for(lambda: client.depth(topology.ORDERS_DLQ) >= len(poison), 30, what="the poison to reach orders_dlq")
    client.wait_idle()
    dlq_depth = client.depth(topology.ORDERS_DLQ)
    taken = client.take_dead_letters()
    queue = client.queue_info()
    return DeadLetters(sent=[PoisonSent(r, len(b)) for r, b in poison], dlq_depth=dlq_depth, dead_letters=taken,
                       good_orders=len(good), good_counts=counts, inventory_queue=queue,
                       queue_arguments=queue["arguments"])


# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BrokerOutage:
    n: int
    statuses: list[int]  # the distinct HTTP statuses, sorted
    accepted_202: int
    outbox_backlog_while_down: int
    broker_connected_while_down: bool
    status_while_down: str
    broker_restart_s: float
    seconds_to_all_final: float
    counts: dict[str, int]
    consumers_back: dict[str, bool]  # per consumer service: consuming again


def broker_outage(stack: Stack, client: Client, n: int = 20) -> BrokerOutage:
    """Stop RabbitMQ, place orders (still 202), start it again: every order confirmed."""
    client.wait_idle()
    client.reset_stock()
    stack.stop(RABBITMQ)
    placed = client.place_many(n, threads=4)
    backlog = client.health(client.order_url)
    sample_status = client.order(placed["ids"][0])[1]["status"]
    t0 = time.monotonic()
    stack.start(RABBITMQ)
    broker_up_s = time.monotonic() - t0
    counts = client.wait_final(placed["ids"], 120)
    return BrokerOutage(
        n=n, statuses=sorted(set(placed["statuses"])), accepted_202=placed["statuses"].count(202),
        outbox_backlog_while_down=backlog["outbox_backlog"], broker_connected_while_down=backlog["broker_connected"],
        status_while_down=sample_status, broker_restart_s=round(broker_up_s, 1),
        seconds_to_all_final=round(time.monotonic() - t0, 1), counts=counts,
        consumers_back={s: client.health(u).get("consuming") for s, u in
                        ((INVENTORY, client.inventory_url), (NOTIFICATION, client.notification_url))})


# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StockLine:
    """One item's stock arithmetic: initial - units of confirmed orders == final."""
    initial: int
    confirmed_units: int
    final: int

    @property
    def exact(self) -> bool:
        return self.initial - self.confirmed_units == self.final


@dataclass(frozen=True)
class Crash:
    n: int
    accepted_202: int
    killed_pid: int | None
    killed_after: int  # the kill came once inventory had processed at least this many
    drain_paced_ms: int
    processed_seen_before_kill: int
    depth_after_kill: int
    counts: dict[str, int]
    final_reasons: dict[str, int]
    reservations: dict[str, int]  # inventory's durable outcome records, per outcome
    duplicates_after_restart: int
    arithmetic: dict[str, StockLine]
    notifications: int


def crash(stack: Stack, client: Client, n: int = FULL["crash"], kill_at: float = 0.4, seed: int = 7) -> Crash:
    """kill -9 inventory in the middle of an n-order drain, start it again: one final state each, exact stock."""
    client.wait_idle()
    rng = random.Random(seed)
    quantities = [rng.randint(1, 3) for _ in range(n)]
    # About as much stock as demand (0.4 * n units per item, ~0.4 * n wanted), so both outcomes are likely.
    initial = {item: max(1, int(0.4 * n)) for item in ITEMS}
    client.reset_stock(initial)
    notes_before = client.health(client.notification_url)["notifications"]
    stack.stop(INVENTORY)
    placed = client.place_many(n, quantity=lambda i: quantities[i])
    _published(client, n)
    # Under Docker a kill is a compose round trip (~0.5-1 s): pace the drain (2 ms a message, one at a time) so the
    # kill still lands in the middle of it. Natively the kill is immediate and the drain runs at full speed.
    pace_ms = 2 if stack.runtime == "docker" else 0
    stack.start(INVENTORY, env=fault_env(inventory_delay_ms=pace_ms) if pace_ms else None)
    target = int(n * kill_at)
    seen = wait_for(lambda: (h := client.health(client.inventory_url))["processed"] >= target and h, 120,
                    interval=0.01, what=f"{target} messages processed")
    pid = stack.pid(INVENTORY)
    stack.kill(INVENTORY)
    wait_for(lambda: client.queue_info()["consumers"] == 0, 15, interval=0.2,
             what="the broker to see the consumer gone")
    depth_after_kill = client.depth()  # exact: what was left plus the unacked deliveries the broker took back
    stack.start(INVENTORY)
    counts = client.wait_final(placed["ids"], 300)
    client.wait_idle()
    wait_for(lambda: client.health(client.notification_url)["notifications"] >= notes_before + n, 60, interval=0.25,
             what="every notification")
    inv_health = client.health(client.inventory_url)
    final = client.lookup(placed["ids"])["orders"]
    stock = client.stock()
    confirmed_units = {item: 0 for item in ITEMS}
    for oid, (item, qty) in placed["orders"].items():
        if final.get(oid, {}).get("status") == OrderStatus.CONFIRMED:
            confirmed_units[item] += qty
    reasons: dict[str, int] = {}
    for doc in final.values():
        if doc["status"] == OrderStatus.FAILED:
            reasons[doc["reason"]] = reasons.get(doc["reason"], 0) + 1
    return Crash(
        n=n, accepted_202=placed["statuses"].count(202), killed_pid=pid, killed_after=target,
        drain_paced_ms=pace_ms, processed_seen_before_kill=seen["processed"], depth_after_kill=depth_after_kill,
        counts=counts, final_reasons=reasons, reservations=client.reservations()["counts"],
        duplicates_after_restart=inv_health["stats"]["duplicates"],
        arithmetic={item: StockLine(initial[item], confirmed_units[item], stock[item]) for item in ITEMS},
        notifications=client.health(client.notification_url)["notifications"] - notes_before)


# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ForceFailure:
    statuses: list[int]
    counts: dict[str, int]
    reasons: list[str]  # the distinct failure reasons, sorted
    stock: dict[str, int]


@dataclass(frozen=True)
class Delay:
    delay_ms: int
    statuses: list[int]
    accept_ms: Summary  # latency of the 202s
    counts: dict[str, int]
    seconds_to_all_final: float


@dataclass(frozen=True)
class FaultEffects:
    force_failure: ForceFailure
    delay: Delay


def faults(stack: Stack, client: Client, delay_ms: int = 500, n: int = 5) -> FaultEffects:
    """The fault switches: FORCE_FAILURE=true fails orders (service_error); INVENTORY_DELAY_MS slows the
    reservation but not the 202."""
    client.wait_idle()
    client.reset_stock()
    try:
        stack.start(INVENTORY, env=fault_env(force_failure=True))
        placed = client.place_many(n, threads=1)
        failed = ForceFailure(
            statuses=placed["statuses"], counts=client.wait_final(placed["ids"], 30),
            reasons=sorted({o["reason"] for o in client.lookup(placed["ids"])["orders"].values() if o.get("reason")}),
            stock=client.stock())
        stack.start(INVENTORY, env=fault_env(inventory_delay_ms=delay_ms))
        t0 = time.monotonic()
        placed = client.place_many(n, threads=1)
        counts = client.wait_final(placed["ids"], 60)
        delayed = Delay(delay_ms=delay_ms, statuses=placed["statuses"], accept_ms=summarize(placed["ms"]), counts=counts,
                        seconds_to_all_final=round(time.monotonic() - t0, 2))
    finally:
        stack.start(INVENTORY)  # faults off again
    return FaultEffects(failed, delayed)


# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Results:
    """run_all's results, one field per scenario in the evidence file's order, and each one's duration."""
    backlog_small: BacklogDrain
    backlog_big: BacklogDrain
    idempotency: Idempotency
    dead_letters: DeadLetters
    broker_outage: BrokerOutage
    crash: Crash
    faults: FaultEffects
    seconds: dict[str, float]  # per scenario (field name), in run order


SCENARIOS = (backlog_drain, idempotency, dead_letters, broker_outage, crash, faults)


def run_all(stack: Stack, settings: Settings, full: bool = True, progress=lambda _m: None) -> Results:
    """Every scenario, in the evidence file's order; full=False is pytest's smaller scale (QUICK)."""
    client = Client(settings)
    scale = FULL if full else QUICK
    steps = [
        ("backlog_small", lambda: backlog_drain(stack, client, n=scale["backlog_small"])),
        ("backlog_big", lambda: backlog_drain(stack, client, n=scale["backlog_big"], threads=8)),
        ("idempotency", lambda: idempotency(stack, client)),
        ("dead_letters", lambda: dead_letters(stack, client)),
        ("broker_outage", lambda: broker_outage(stack, client, n=20)),
        ("crash", lambda: crash(stack, client, n=scale["crash"])),
        ("faults", lambda: faults(stack, client)),
    ]
    results, seconds = run_steps([(key, f"scenario {key} ...", fn) for key, fn in steps], progress,
                                 done="scenario {key}: done in {seconds} s")
    return Results(**results, seconds=seconds)
