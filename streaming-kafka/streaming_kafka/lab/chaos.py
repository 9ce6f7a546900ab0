"""Part C's chaos ring: `kill -9` kafka, producer-order, inventory-consumer or analytics-consumer at random moments
while tagged orders arrive (`POST /order`), start it again, then account for every request from independent records.

Sources: the client's own record (202 + order_id; refused; unknown outcome, a 503 "failed" included: its record
may still be delivered); the Kafka log itself (`OrderEvents`, `InventoryEvents` and `OrderEvents.DLQ` read from
the end offsets taken before the load); inventory's reservation records and stock (`/reservations`, `/stock`);
the analytics view (`/order/<id>`, `/metrics`); consumer-group lag.
"""
from __future__ import annotations

import json
import random
import secrets
import threading
import time
from collections import Counter, defaultdict

import requests

from common.menu import ITEMS
from common.settings import Settings
from common.vocabulary import OrderStatus, ReservationOutcome
from labkit import chaos
from labkit.chaos import ACCEPTED, REFUSED, REJECTED, UNKNOWN, Attempt, ChaosRun
from labkit.stack import Stack, wait_for
from streaming_kafka.kafka_io import TopicPartition, make_reader
from streaming_kafka.lab.client import Client
from streaming_kafka.lab.scenarios import counts, delta, wait_caught_up
from streaming_kafka.lag import consumer_lag, total_lag
from streaming_kafka.topology import ANALYTICS_GROUP, DLQ_TOPIC, INVENTORY_GROUP, INVENTORY_TOPIC, ORDER_TOPIC

PART = "streaming-kafka"
KAFKA, PRODUCER, INVENTORY, ANALYTICS = "kafka", "producer-order", "inventory-consumer", "analytics-consumer"
SERVICES = (KAFKA, PRODUCER, INVENTORY, ANALYTICS)
FINAL = (OrderStatus.CONFIRMED, OrderStatus.FAILED)
TOPICS = (ORDER_TOPIC, INVENTORY_TOPIC, DLQ_TOPIC)


def sender(client: Client):
    local = threading.local()

    def post(body: dict) -> requests.Response:
        http = getattr(local, "http", None) or setattr(local, "http", requests.Session()) or local.http
        return http.post(f"{client.order_url}/order", json=body, timeout=30)

    def send(i: int, tag: str, item: str, qty: int) -> Attempt:
        return chaos.place_attempt(i, tag, item, qty, post)
    return send


def _auditor(settings: Settings):
    return make_reader(settings, client_id="chaos-audit")


def end_offsets(settings: Settings) -> dict[str, dict[int, int]]:
    c = _auditor(settings)
    try:
        out = {}
        for topic in TOPICS:
            tps = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic) or ())]
            out[topic] = {tp.partition: off for tp, off in c.end_offsets(tps).items()}
        return out
    finally:
        c.close()


def read_log(settings: Settings, topic: str, start: dict[int, int], end: dict[int, int], timeout: float = 120):
    """Every record of `topic` between two sets of offsets, straight from the broker (no group)."""
    c = _auditor(settings)
    try:
        tps = [TopicPartition(topic, p) for p in end]
        c.assign(tps)
        for tp in tps:
            c.seek(tp, start.get(tp.partition, 0))
        todo = {tp for tp in tps if start.get(tp.partition, 0) < end[tp.partition]}
        out = []
        deadline = time.monotonic() + timeout
        while todo and time.monotonic() < deadline:
            for tp, recs in c.poll(timeout_ms=1000).items():
                for r in recs:
                    if r.offset < end[tp.partition]:
                        out.append(r)
                    if r.offset >= end[tp.partition] - 1:
                        todo.discard(tp)
        if todo:
            raise TimeoutError(f"could not read {topic} up to its end offsets: {sorted(t.partition for t in todo)}")
        return out
    finally:
        c.close()


def _json(value: bytes | None) -> dict:
    try:
        doc = json.loads(value) if value else {}
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def run(stack: Stack, settings: Settings, rounds: int = 3, seed: int | None = None, threads: int = 4,
        rate: float = 25.0, gap_s: tuple[float, float] = (1.0, 4.0), down_s: tuple[float, float] = (0.0, 3.0),
        min_orders: int = 20, scarce_units: int = 40, settle_timeout: float = 300, progress=lambda _m: None) -> ChaosRun:
    """`rounds` kills of a seeded random service under a load of tagged orders, then the accounting."""
    seed = seed if seed is not None else chaos.seed_from(settings)
    rng = random.Random(seed)
    res = ChaosRun(PART, seed, rounds, SERVICES)
    progress(f"seed {seed} (CHAOS_SEED={seed} replays this schedule)")
    client = Client(settings)
    wait_caught_up(settings)
    initial = client.reset_stock({item: 10_000_000 for item in ITEMS} | {ITEMS[-1]: scarce_units})
    before = counts(client.metrics())
    start = end_offsets(settings)
    token = secrets.token_hex(4)
    load = chaos.Load(sender(client), seed, token, ITEMS, threads, rate)
    plan = chaos.kill_plan(rng, SERVICES, rounds, must=KAFKA)
    load.start()
    try:
        res.kills = chaos.kill_rounds(stack, load, plan, rng, gap_s, down_s, min_orders, progress)
        floor = load.count + min_orders
        wait_for(lambda: load.count >= floor, 60, interval=0.05, what="orders after the last round")
    finally:
        res.attempts = load.stop()
        res.load_seconds = round(load.seconds, 1)
    t0 = time.monotonic()
    progress(f"load stopped: {res.outcomes()}; settling")
    try:
        wait_caught_up(settings, settle_timeout)
    except TimeoutError as exc:  # what the consumers were doing is the diagnosis: their last lines go with it
        tails = "\n".join(f"--- {s} (last lines) ---\n{stack.logs(s, 30)}" for s in (INVENTORY, ANALYTICS))
        raise TimeoutError(f"{exc}\n{tails}") from None
    res.settle_seconds = round(time.monotonic() - t0, 1)
    account(res, client, token, initial, before, start, end_offsets(settings), settle_timeout)
    return res


def account(res: ChaosRun, client: Client, token: str, initial: dict, before: dict, start: dict, end: dict,
            settle_timeout: float) -> None:
    settings = client.settings
    tags = chaos.tags_by_outcome(res.attempts)
    accepted = {a.order_id: a for a in res.attempts if a.outcome == ACCEPTED}
    placed: dict[str, dict] = {}  # order_id -> what OrderEvents holds for it
    copies = Counter()
    for r in read_log(settings, ORDER_TOPIC, start[ORDER_TOPIC], end[ORDER_TOPIC]):
        doc = _json(r.value)
        if str(doc.get("student_id", "")).startswith(f"chaos-{token}-"):
            p = placed.setdefault(doc["order_id"], {"tag": doc["student_id"], "item": doc.get("item"),
                                                    "quantity": doc.get("quantity"), "event_ids": set()})
            p["event_ids"].add(doc.get("event_id"))
            copies[doc["order_id"]] += 1
    results: dict[str, dict] = defaultdict(dict)  # order_id -> result event_id -> the result event
    for r in read_log(settings, INVENTORY_TOPIC, start[INVENTORY_TOPIC], end[INVENTORY_TOPIC]):
        doc = _json(r.value)
        if doc.get("order_id") in placed:
            results[doc["order_id"]][doc.get("event_id")] = doc
    dlq = read_log(settings, DLQ_TOPIC, start[DLQ_TOPIC], end[DLQ_TOPIC])
    res.dead_letters = [{"topic": DLQ_TOPIC, "reason": dict(r.headers or []).get("dlq_reason", b"").decode(),
                         "body": (r.value or b"")[:120].decode(errors="replace")} for r in dlq]
    ghosts = [oid for oid, p in placed.items() if p["tag"] not in tags[ACCEPTED]]
    log = "OrderEvents log"
    client_rec = "client record"

    res.check("202 answers not in OrderEvents (lost)", f"{client_rec} vs {log}",
              sum(1 for oid in accepted if oid not in placed), 0)
    res.check("stored as asked (item, quantity)", f"{client_rec} vs {log}",
              sum(1 for oid, a in accepted.items() if oid in placed
                  and (placed[oid]["item"], placed[oid]["quantity"]) != (a.item, a.quantity)), 0)
    res.check("OrderPlaced event_ids per order (max)", log,
              max((len(p["event_ids"]) for p in placed.values()), default=0), 1 if placed else 0)
    res.check("orders per request (max)", f"{log} by student tag",
              max(Counter(p["tag"] for p in placed.values()).values(), default=0), 1 if placed else 0)
    res.check("orders of refused or 4xx requests", f"{client_rec} vs {log}",
              sum(1 for p in placed.values() if p["tag"] in tags[REFUSED] | tags[REJECTED]), 0)
    res.check("orders the client was not told about, not from an unknown request", f"{client_rec} vs {log}",
              sum(1 for oid in ghosts if placed[oid]["tag"] not in tags[UNKNOWN]), 0)
    existing = {p["tag"] for p in placed.values()}
    res.ghosts = [a for a in res.attempts if a.outcome == UNKNOWN and a.tag in existing]
    res.notes["unknown outcomes resolved"] = chaos.unknown_note(res.attempts, existing)
    res.notes["OrderPlaced records written more than once (producer retries)"] = sum(1 for n in copies.values() if n > 1)
    res.check("orders of this run", f"{log} vs {client_rec}", len(placed), len(accepted) + len(ghosts))
    res.check("orders without a result (not final)", f"{log} vs InventoryEvents",
              sum(1 for oid in placed if not results.get(oid)), 0)
    res.check("orders with two different results (reserved twice)", "InventoryEvents",
              sum(1 for r in results.values() if len(r) > 1), 0)

    outcome = {oid: next(iter(r.values())) for oid, r in results.items() if r}
    reserved = [d for d in outcome.values() if d.get("event_type") == "InventoryReserved"]
    store = client.reservations()
    records = store["counts"]
    res.check("reservation records == orders (none twice, none missing)", f"inventory /reservations vs {log}",
              sum(records.values()), len(placed))
    res.check("reserved records == InventoryReserved results", "inventory /reservations vs InventoryEvents",
              records.get(ReservationOutcome.RESERVED, 0), len(reserved))
    current = client.stock()
    units = Counter()
    for d in reserved:
        units[d["item"]] += d["quantity"]
    res.check_stock(ITEMS, initial, current, units, "reserved units (events)", store["reserved_units"],
                    "/stock vs InventoryEvents vs /reservations")

    # Analytics: a restarted consumer rewinds and re-folds the log; its view must come back to the log's.
    want = {"orders": len(placed), "reserved": len(reserved), "failed": len(outcome) - len(reserved)}
    try:
        wait_for(lambda: {k: v for k, v in delta(before, counts(client.metrics())).items() if k in want} == want,
                 min(settle_timeout, 90), interval=0.5, what="the analytics view to match the log")
    except TimeoutError:
        pass  # the checks below say by how much
    d = delta(before, counts(client.metrics()))
    for k, v in want.items():
        res.check(f"analytics {k} (metrics delta)", f"/metrics vs {log}", d[k], v)
    res.check("analytics orders pending", "/metrics", d["pending"], 0)
    disagree = 0
    for oid, doc in outcome.items():
        seen = client.order_status(oid) or {}
        want_status = OrderStatus.CONFIRMED if doc.get("event_type") == "InventoryReserved" else OrderStatus.FAILED
        disagree += seen.get("status") != want_status
    res.check("orders whose analytics status differs from the log", "/order/<id> vs InventoryEvents", disagree, 0)

    for group in (INVENTORY_GROUP, ANALYTICS_GROUP):
        res.check(f"{group}: lag", "consumer-group offsets vs end offsets", total_lag(consumer_lag(settings, group)), 0)
    res.check("records in OrderEvents.DLQ (only good orders were sent)", "Kafka log", len(dlq), 0)
    res.notes["end offsets (OrderEvents, InventoryEvents, DLQ) before -> after"] = {
        t: f"{sum(start[t].values())} -> {sum(end[t].values())}" for t in TOPICS}
    res.notes["outcomes"] = dict(Counter(d.get("event_type") for d in outcome.values()))
    res.notes["duplicates absorbed by inventory since its last start"] = requests.get(
        f"{client.inventory_url}/health", timeout=5).json().get("stats", {}).get("duplicates")
