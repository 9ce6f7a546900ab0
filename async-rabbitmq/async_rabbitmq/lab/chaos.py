"""Part B's chaos ring: `kill -9` rabbitmq, order-service, inventory-service or notification-service at random
moments while tagged orders arrive, start it again, then account for every request from independent records.

Sources: the client's own record (202 + order_id, refused, unknown outcome); the order store (`/orders/lookup`
for the ids the client got; the store's file, read-only, for orders whose 202 never reached the client);
inventory's reservation records and stock (`/reservations`, `/stock`); the broker (queue depths, the
dead-letter queues through the management API); the notification service's count.
"""
from __future__ import annotations

import random
import secrets
import sqlite3
import time
from collections import Counter

import requests

from async_rabbitmq.lab.client import Client
from async_rabbitmq.messaging import topology
from common.menu import ITEMS
from common.settings import Settings
from common.vocabulary import OrderStatus, ReservationOutcome
from labkit import chaos
from labkit.chaos import ACCEPTED, REFUSED, REJECTED, UNKNOWN, Attempt, ChaosRun
from labkit.stack import Stack, wait_for

PART = "async-rabbitmq"
RABBITMQ, ORDER, INVENTORY, NOTIFICATION = "rabbitmq", "order-service", "inventory-service", "notification-service"
SERVICES = (RABBITMQ, ORDER, INVENTORY, NOTIFICATION)
FINAL = (OrderStatus.CONFIRMED, OrderStatus.FAILED)
WORK_QUEUES = (topology.INVENTORY_ORDERS, topology.ORDER_STATUS_QUEUE, topology.NOTIFICATIONS_QUEUE)
DLQS = (topology.ORDERS_DLQ, topology.EVENTS_DLQ)


def sender(lab: Client):
    def send(i: int, tag: str, item: str, qty: int) -> Attempt:
        return chaos.place_attempt(i, tag, item, qty, lab.post_order)
    return send


def stored_orders(settings: Settings, token: str) -> list[dict]:
    """The order store's rows for this run (student_id `chaos-<token>-<i>`), read from its SQLite file, read-only:
    the only record of an order whose 202 was lost with a killed order-service."""
    path = settings.data_path("orders.db", PART)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        rows = conn.execute("SELECT order_id, student_id, status, reason, item, quantity FROM orders"
                            " WHERE student_id LIKE ?", (f"chaos-{token}-%",)).fetchall()
    finally:
        conn.close()
    return [dict(zip(("order_id", "tag", "status", "reason", "item", "quantity"), r, strict=True)) for r in rows]


def peek_dead_letters(lab: Client, queue: str, limit: int = 200) -> list[dict]:
    """What is in a dead-letter queue, left in place (management API, requeued): reason header and body head."""
    r = requests.post(f"{lab.mgmt_url}/queues/%2F/{queue}/get", auth=lab.auth, timeout=30,
                      json={"count": limit, "ackmode": "ack_requeue_true", "encoding": "auto", "truncate": 300})
    r.raise_for_status()
    return [{"queue": queue, "reason": (m.get("properties", {}).get("headers") or {}).get("x-reject-reason"),
             "body": str(m.get("payload"))[:120]} for m in r.json()]


def _queues_idle(lab: Client) -> bool:
    return all(lab.depth(q) == 0 and lab.queue_info(q)["messages"] == 0 for q in WORK_QUEUES)


def run(stack: Stack, lab: Client, rounds: int = 3, seed: int | None = None, threads: int = 4, rate: float = 25.0,
        gap_s: tuple[float, float] = (1.0, 4.0), down_s: tuple[float, float] = (0.0, 3.0), min_orders: int = 20,
        scarce_units: int = 40, settle_timeout: float = 300, progress=lambda _m: None) -> ChaosRun:
    """`rounds` kills of a seeded random service under a load of tagged orders, then the accounting."""
    seed = seed if seed is not None else chaos.seed_from(lab.settings)
    rng = random.Random(seed)
    res = ChaosRun(PART, seed, rounds, SERVICES)
    progress(f"seed {seed} (CHAOS_SEED={seed} replays this schedule)")
    lab.wait_idle()
    wait_for(lambda: _queues_idle(lab), 60, interval=0.5, what="every work queue to be empty")
    # Plenty of stock, except one scarce item: both outcomes happen, and a double reservation would show.
    initial = lab.reset_stock({item: 1_000_000 for item in ITEMS} | {ITEMS[-1]: scarce_units})
    for q in DLQS:
        lab.purge(q)
    notes_before = lab.health(lab.notification_url)["notifications"]
    token = secrets.token_hex(4)
    load = chaos.Load(sender(lab), seed, token, ITEMS, threads, rate)
    plan = chaos.kill_plan(rng, SERVICES, rounds, must=RABBITMQ)
    load.start()
    try:
        res.kills = chaos.kill_rounds(stack, load, plan, rng, gap_s, down_s, min_orders, progress)
        floor = load.count + min_orders  # the load goes on a little after the last restart
        wait_for(lambda: load.count >= floor, 60, interval=0.05, what="orders after the last round")
    finally:
        res.attempts = load.stop()
        res.load_seconds = round(load.seconds, 1)
    t0 = time.monotonic()
    progress(f"load stopped: {res.outcomes()}; settling")
    wait_for(lambda: lab.health(lab.order_url)["outbox_backlog"] == 0, settle_timeout, interval=0.5,
             what="the outbox to be published")
    stored = stored_orders(lab.settings, token)
    ids = [o["order_id"] for o in stored] + [a.order_id for a in res.attempts if a.outcome == ACCEPTED]
    ids = list(dict.fromkeys(ids))
    lab.wait_final(ids, settle_timeout)
    wait_for(lambda: _queues_idle(lab), settle_timeout, interval=0.5, what="every work queue to be empty")
    wait_for(lambda: lab.health(lab.notification_url)["notifications"] >= notes_before + len(stored), 60,
             interval=0.5, what="a notification for every order")
    res.settle_seconds = round(time.monotonic() - t0, 1)
    account(res, lab, token, initial, notes_before)
    return res


def account(res: ChaosRun, lab: Client, token: str, initial: dict, notes_before: int) -> None:
    tags = chaos.tags_by_outcome(res.attempts)
    accepted = {a.order_id: a for a in res.attempts if a.outcome == ACCEPTED}
    looked = lab.lookup(list(accepted))["orders"]  # the order store, through its API
    stored = stored_orders(lab.settings, token)  # the order store's rows for every tag of this run
    by_id = {o["order_id"]: o for o in stored}
    per_tag = Counter(o["tag"] for o in stored)
    ghosts = [o for o in stored if o["tag"] not in tags[ACCEPTED]]
    client = "client record"

    res.check("202 answers not in the order store (lost)", f"{client} vs GET /orders/lookup",
              sum(1 for oid in accepted if oid not in looked), 0)
    res.check("stored as asked (item, quantity)", f"{client} vs order store",
              sum(1 for oid, a in accepted.items() if (looked.get(oid, {}).get("item"),
                                                       looked.get(oid, {}).get("quantity")) != (a.item, a.quantity)), 0)
    res.check("202 answers whose order the store file lacks or disagrees on", "GET /orders/lookup vs store file",
              sum(1 for oid in accepted if looked.get(oid, {}).get("status") != by_id.get(oid, {}).get("status")), 0)
    res.check("orders of this run not in a final state", "order store", sum(1 for o in stored
                                                                            if o["status"] not in FINAL), 0)
    res.check("orders per request (max)", "order store by student tag", max(per_tag.values(), default=0),
              1 if stored else 0)
    res.check("orders of refused or 4xx requests", f"{client} vs order store",
              sum(1 for o in stored if o["tag"] in tags[REFUSED] | tags[REJECTED]), 0)
    res.check("orders the client was not told about, not from an unknown request", f"{client} vs order store",
              sum(1 for o in ghosts if o["tag"] not in tags[UNKNOWN]), 0)
    existing = {o["tag"] for o in stored}
    res.ghosts = [a for a in res.attempts if a.outcome == UNKNOWN and a.tag in existing]
    res.notes["unknown outcomes resolved"] = chaos.unknown_note(res.attempts, existing)
    res.check("orders of this run", "order store vs client", len(stored), len(accepted) + len(ghosts))

    reservations = lab.reservations()
    records = reservations["counts"]
    confirmed = [o for o in stored if o["status"] == OrderStatus.CONFIRMED]
    res.check("reservation records == orders (none twice, none missing)", "inventory /reservations vs order store",
              sum(records.values()), len(stored))
    res.check("reserved records == confirmed orders", "inventory /reservations vs order store",
              records.get(ReservationOutcome.RESERVED, 0), len(confirmed))
    res.check("refusal records == failed orders", "inventory /reservations vs order store",
              sum(v for k, v in records.items() if k != ReservationOutcome.RESERVED),
              sum(1 for o in stored if o["status"] == OrderStatus.FAILED))

    current = lab.stock()
    units = Counter()
    for o in confirmed:
        units[o["item"]] += o["quantity"]
    res.check_stock(ITEMS, initial, current, units, "confirmed units (orders)", reservations["reserved_units"],
                    "/stock vs order store vs /reservations")

    for q in WORK_QUEUES:
        info = lab.queue_info(q)
        res.check(f"{q}: messages left (ready + unacked)", "broker (passive declare + management)",
                  lab.depth(q) + info["messages_unacknowledged"], 0)
    for q in DLQS:
        res.dead_letters += peek_dead_letters(lab, q)
    res.check("dead letters (only good orders were sent)", "broker: orders_dlq + inventory_events_dlq",
              sum(lab.depth(q) for q in DLQS), 0)
    res.check("notifications == orders (one each)", "notification-service vs order store",
              lab.health(lab.notification_url)["notifications"] - notes_before, len(stored))
    res.check("outbox backlog", "order-service /health", lab.health(lab.order_url)["outbox_backlog"], 0)
    res.notes["duplicates absorbed by inventory since its last start"] = \
        lab.health(lab.inventory_url)["stats"].get("duplicates")
    res.notes["orders"] = dict(Counter(o["status"] for o in stored))
