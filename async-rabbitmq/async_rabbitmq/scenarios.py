"""Part B's scenarios: each drives the real stack (through `common.stack`) and returns data; nothing prints.

The evidence writer (`async_rabbitmq.evidence`), the pytest assertions and the
benchmarks read these results. Scale is a parameter: the script runs the
issue's sizes, pytest smaller ones.
"""
from __future__ import annotations

import json
import random
import time
from concurrent.futures import ThreadPoolExecutor

from async_rabbitmq.lab import Lab
from async_rabbitmq.messaging import topology
from common.faults import fault_env
from common.ids import generate_event_id, generate_order_id
from common.menu import INITIAL_STOCK, ITEMS
from common.settings import Settings
from common.stack import Stack, wait_for
from common.stats import summarize

RABBITMQ, INVENTORY, NOTIFICATION, ORDER = "rabbitmq", "inventory-service", "notification-service", "order-service"
PLENTY = {item: 1_000_000 for item in ITEMS}


def _published(lab: Lab, want: int, timeout: float = 120) -> None:
    """Until the relay has handed every accepted order to the broker (the outbox is empty)."""
    wait_for(lambda: lab.health(lab.order_url)["outbox_backlog"] == 0, timeout, interval=0.2,
             what="the outbox to be published")
    wait_for(lambda: lab.depth() >= want, timeout, interval=0.2, what=f"{want} messages in inventory_orders")


def _sample_until_empty(lab: Lab, t0: float, timeout: float, every: float = 0.25) -> list[tuple[float, int]]:
    samples = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        d = lab.depth()
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
def backlog_drain(stack: Stack, lab: Lab, n: int, threads: int = 8, timeout: float = 300) -> dict:
    """Stop inventory, place n orders (all 202), read the backlog from the broker, restart, sample the drain."""
    lab.wait_idle()
    lab.reset_stock(PLENTY)
    stack.stop(INVENTORY)
    placed = lab.place_many(n, threads=threads)
    _published(lab, n)
    depth_while_down = lab.depth()
    mgmt_while_down = wait_for(lambda: (q := lab.queue_info())["messages"] == depth_while_down and q, 15,
                               interval=0.5, what="the management API to show the backlog")
    t0 = time.monotonic()
    sampler = ThreadPoolExecutor(1).submit(_sample_until_empty, lab, t0, timeout, 0.05 if n <= 100 else 0.25)
    stack.start(INVENTORY)
    started_s = time.monotonic() - t0
    samples = sampler.result()
    counts = lab.wait_final(placed["ids"], timeout)
    final_s = time.monotonic() - t0
    after = lab.reservations()
    return {
        "n": n, "accepted_202": placed["statuses"].count(202), "statuses": sorted(set(placed["statuses"])),
        "place_seconds": round(placed["seconds"], 2), "place_rate": round(placed["rate"]),
        "latency_ms": summarize(placed["ms"]).as_dict(),
        "depth_while_down": depth_while_down, "mgmt_while_down": mgmt_while_down,
        "inventory_restart_s": round(started_s, 2), "samples": samples, "counts": counts,
        "seconds_to_all_final": round(final_s, 2), "end_to_end_rate": round(n / final_s) if final_s else None,
        "consumer_rate": round(_consumer_rate(after, n) or 0),
    }


# ---------------------------------------------------------------------------------------------------------
def _wait_duplicates(lab: Lab, at_least: int, timeout: float = 30) -> dict:
    return wait_for(lambda: (h := lab.health(lab.inventory_url))["stats"]["duplicates"] >= at_least and h,
                    timeout, interval=0.1, what="the duplicate to be processed")


def idempotency(stack: Stack, lab: Lab) -> dict:
    """The same OrderPlaced (same event_id) delivered twice; then twice with an inventory restart between."""
    lab.wait_idle()
    lab.reset_stock()
    out = {}
    # (a) back to back: the order goes out through the outbox, then the very same event is published again.
    status, body, _ = lab.place("pizza", 3, "s-idem")
    oid, eid = body["order_id"], body["event_id"]
    lab.wait_final([oid], 30)
    dup0 = lab.health(lab.inventory_url)["stats"]["duplicates"]
    note_dup0 = lab.health(lab.notification_url)["stats"]["duplicates"]
    duplicate = {"event_type": "OrderPlaced", "event_id": eid, "order_id": oid, "student_id": "s-idem",
                 "item": "pizza", "quantity": 3, "timestamp": time.time()}
    lab.publish_raw([json.dumps(duplicate).encode()])
    _wait_duplicates(lab, dup0 + 1)
    # inventory re-publishes the stored result (same event_id): the notification service must ignore it.
    wait_for(lambda: lab.health(lab.notification_url)["stats"]["duplicates"] > note_dup0, 30, interval=0.1,
             what="the notification service to see the re-published result")
    out["same_run"] = {"order_id": oid, "event_id": eid, "status": status, "order": lab.order(oid)[1],
                       "stock_pizza": lab.stock()["pizza"], "expected_pizza": INITIAL_STOCK["pizza"] - 3,
                       "logs": _event_logs(stack, lab, eid), "notifications": lab.notifications(oid)}
    # (b) across a restart: first delivery processed, inventory restarted, then the duplicate.
    stock_before = lab.stock()["burger"]
    event = {"event_type": "OrderPlaced", "event_id": generate_event_id(), "order_id": generate_order_id(),
             "student_id": "s-idem", "item": "burger", "quantity": 5, "timestamp": time.time()}
    lab.publish_raw([json.dumps(event).encode()])
    wait_for(lambda: lab.stock()["burger"] == stock_before - 5, 30, what="the first delivery to reserve")
    stack.stop(INVENTORY)
    lab.publish_raw([json.dumps(event).encode()])
    depth_during_restart = lab.depth()
    stack.start(INVENTORY)
    _wait_duplicates(lab, 1)
    lab.wait_idle()
    out["across_restart"] = {"event_id": event["event_id"], "depth_while_stopped": depth_during_restart,
                             "stock_burger_before": stock_before, "stock_burger": lab.stock()["burger"],
                             "expected_burger": stock_before - 5, "logs": _event_logs(stack, lab, event["event_id"])}
    return out


def _event_logs(stack: Stack, lab: Lab, event_id: str) -> list[str]:
    return [f"{r.get('ts', '')} {r.get('msg')}" for r in lab.log_lines(stack, INVENTORY, event_id)]


# ---------------------------------------------------------------------------------------------------------
def _order_placed(**fields) -> dict:
    base = {"event_type": "OrderPlaced", "event_id": generate_event_id(), "order_id": generate_order_id(),
            "student_id": "s-poison", "item": "pizza", "quantity": 1, "timestamp": time.time()}
    return {**base, **fields}


def poison_messages(max_bytes: int) -> list[tuple[str, bytes]]:
    """(expected reason, body) for each kind of poison."""
    missing = _order_placed()
    del missing["quantity"]
    no_event_id = _order_placed()
    del no_event_id["event_id"]
    return [
        ("not_json", b"this is {not json"),
        ("not_json", b"\xff\xfe\x00binary"),
        ("too_deep", b"[" * 30_000 + b"]" * 30_000),  # issue 10: 60 KB of nesting was a RecursionError
        ("not_an_object", b"[1, 2, 3]"),
        ("missing_field", json.dumps(missing).encode()),
        ("missing_field", json.dumps(no_event_id).encode()),
        ("invalid_field", json.dumps(_order_placed(quantity="2")).encode()),
        ("invalid_field", json.dumps(_order_placed(quantity=0)).encode()),
        ("unknown_item", json.dumps(_order_placed(item="sushi")).encode()),
        ("oversized", json.dumps(_order_placed(note="x" * (max_bytes + 10))).encode()),
    ]


def dead_letters(stack: Stack, lab: Lab) -> dict:
    """Poison messages, with good orders between them: each poison in orders_dlq with its reason."""
    lab.wait_idle()
    lab.reset_stock()
    lab.purge(topology.ORDERS_DLQ)
    poison = poison_messages(lab.settings.max_message_bytes)
    good = []
    for _reason, body in poison:
        lab.publish_raw([body])
        good.append(lab.place("coffee", 1, "s-good")[1]["order_id"])
    counts = lab.wait_final(good, 60)
    wait_for(lambda: lab.depth(topology.ORDERS_DLQ) >= len(poison), 30, what="the poison to reach orders_dlq")
    lab.wait_idle()
    dlq_depth = lab.depth(topology.ORDERS_DLQ)
    taken = lab.take_dead_letters()
    return {"sent": [{"expected": r, "bytes": len(b)} for r, b in poison], "dlq_depth": dlq_depth,
            "dead_letters": taken, "good_orders": len(good), "good_counts": counts,
            "inventory_queue": lab.queue_info(), "queue_arguments": lab.queue_info()["arguments"]}


# ---------------------------------------------------------------------------------------------------------
def broker_outage(stack: Stack, lab: Lab, n: int = 20) -> dict:
    """Stop RabbitMQ, place orders (still 202), start it again: every order confirmed."""
    lab.wait_idle()
    lab.reset_stock()
    stack.stop(RABBITMQ)
    placed = lab.place_many(n, threads=4)
    backlog = lab.health(lab.order_url)
    sample_status = lab.order(placed["ids"][0])[1]["status"]
    t0 = time.monotonic()
    stack.start(RABBITMQ)
    broker_up_s = time.monotonic() - t0
    counts = lab.wait_final(placed["ids"], 120)
    return {"n": n, "statuses": sorted(set(placed["statuses"])), "accepted_202": placed["statuses"].count(202),
            "outbox_backlog_while_down": backlog["outbox_backlog"], "broker_connected_while_down":
            backlog["broker_connected"], "status_while_down": sample_status, "broker_restart_s": round(broker_up_s, 1),
            "seconds_to_all_final": round(time.monotonic() - t0, 1), "counts": counts,
            "consumers_back": {s: lab.health(u).get("consuming") for s, u in
                               ((INVENTORY, lab.inventory_url), (NOTIFICATION, lab.notification_url))}}


# ---------------------------------------------------------------------------------------------------------
def crash(stack: Stack, lab: Lab, n: int, kill_at: float = 0.4, seed: int = 7) -> dict:
    """kill -9 inventory in the middle of an n-order drain, start it again: one final state each, exact stock."""
    lab.wait_idle()
    rng = random.Random(seed)
    quantities = [rng.randint(1, 3) for _ in range(n)]
    # About as much stock as demand (0.4 * n units per item, ~0.4 * n wanted), so both outcomes are likely.
    initial = {item: max(1, int(0.4 * n)) for item in ITEMS}
    lab.reset_stock(initial)
    notes_before = lab.health(lab.notification_url)["notifications"]
    stack.stop(INVENTORY)
    placed = lab.place_many(n, quantity=lambda i: quantities[i])
    _published(lab, n)
    # Under Docker a kill is a compose round trip (~0.5-1 s): pace the drain (2 ms a message, one at a time) so the
    # kill still lands in the middle of it. Natively the kill is immediate and the drain runs at full speed.
    pace_ms = 2 if stack.runtime == "docker" else 0
    stack.start(INVENTORY, env=fault_env(inventory_delay_ms=pace_ms) if pace_ms else None)
    target = int(n * kill_at)
    seen = wait_for(lambda: (h := lab.health(lab.inventory_url))["processed"] >= target and h, 120,
                    interval=0.01, what=f"{target} messages processed")
    pid = stack.pid(INVENTORY)
    stack.kill(INVENTORY)
    wait_for(lambda: lab.queue_info()["consumers"] == 0, 15, interval=0.2, what="the broker to see the consumer gone")
    depth_after_kill = lab.depth()  # exact: what was left plus the unacked deliveries the broker took back
    stack.start(INVENTORY)
    counts = lab.wait_final(placed["ids"], 300)
    lab.wait_idle()
    wait_for(lambda: lab.health(lab.notification_url)["notifications"] >= notes_before + n, 60, interval=0.25,
             what="every notification")
    inv_health = lab.health(lab.inventory_url)
    final = lab.lookup(placed["ids"])["orders"]
    stock = lab.stock()
    confirmed_units = {item: 0 for item in ITEMS}
    for oid, (item, qty) in placed["orders"].items():
        if final.get(oid, {}).get("status") == "confirmed":
            confirmed_units[item] += qty
    arithmetic = {item: {"initial": initial[item], "confirmed_units": confirmed_units[item], "final": stock[item],
                         "exact": initial[item] - confirmed_units[item] == stock[item]} for item in ITEMS}
    reasons: dict[str, int] = {}
    for doc in final.values():
        if doc["status"] == "failed":
            reasons[doc["reason"]] = reasons.get(doc["reason"], 0) + 1
    return {"n": n, "accepted_202": placed["statuses"].count(202), "killed_pid": pid, "killed_after": target,
            "drain_paced_ms": pace_ms,
            "processed_seen_before_kill": seen["processed"],
            "depth_after_kill": depth_after_kill, "counts": counts,
            "final_reasons": reasons, "reservations": lab.reservations()["counts"],
            "duplicates_after_restart": inv_health["stats"]["duplicates"], "arithmetic": arithmetic,
            "notifications": lab.health(lab.notification_url)["notifications"] - notes_before}


# ---------------------------------------------------------------------------------------------------------
def faults(stack: Stack, lab: Lab, delay_ms: int = 500, n: int = 5) -> dict:
    """The fault switches: FORCE_FAILURE=true fails orders (service_error); INVENTORY_DELAY_MS slows the
    reservation but not the 202."""
    lab.wait_idle()
    lab.reset_stock()
    out = {}
    try:
        stack.start(INVENTORY, env=fault_env(force_failure=True))
        placed = lab.place_many(n, threads=1)
        out["force_failure"] = {"statuses": placed["statuses"], "counts": lab.wait_final(placed["ids"], 30),
                                "reasons": sorted({o["reason"] for o in lab.lookup(placed["ids"])["orders"].values()
                                                   if o.get("reason")}), "stock": lab.stock()}
        stack.start(INVENTORY, env=fault_env(inventory_delay_ms=delay_ms))
        t0 = time.monotonic()
        placed = lab.place_many(n, threads=1)
        counts = lab.wait_final(placed["ids"], 60)
        out["delay"] = {"delay_ms": delay_ms, "statuses": placed["statuses"],
                        "accept_ms": summarize(placed["ms"]).as_dict(), "counts": counts,
                        "seconds_to_all_final": round(time.monotonic() - t0, 2)}
    finally:
        stack.start(INVENTORY)  # faults off again
    return out


def run_all(stack: Stack, settings: Settings, full: bool = True, progress=lambda _m: None) -> dict:
    """Every scenario, in the evidence file's order; full=False is pytest's smaller scale."""
    lab = Lab(settings)
    big, crash_n = (10_000, 5_000) if full else (1_000, 1_000)
    results = {}
    steps = [
        ("backlog_small", lambda: backlog_drain(stack, lab, 15)),
        ("backlog_big", lambda: backlog_drain(stack, lab, big, threads=8)),
        ("idempotency", lambda: idempotency(stack, lab)),
        ("dead_letters", lambda: dead_letters(stack, lab)),
        ("broker_outage", lambda: broker_outage(stack, lab, 20)),
        ("crash", lambda: crash(stack, lab, crash_n)),
        ("faults", lambda: faults(stack, lab)),
    ]
    for key, fn in steps:
        progress(f"scenario {key} ...")
        t0 = time.monotonic()
        results[key] = fn()
        results[key]["scenario_seconds"] = round(time.monotonic() - t0, 1)
        progress(f"scenario {key}: done in {results[key]['scenario_seconds']} s")
    return results
