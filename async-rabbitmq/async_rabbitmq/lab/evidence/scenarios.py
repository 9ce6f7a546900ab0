"""Part B's scenario evidence: `python -m async_rabbitmq.lab.evidence` (or `python async-rabbitmq/tests/test_async.py`)
against a running stack (`make up PART=async-rabbitmq`) writes `async-rabbitmq/tests/test_output.txt`.

The runtime: a running compose stack of async-rabbitmq is driven with `docker compose` (its evidence goes to
`tests/docker/test_output.txt`), else the native one; STACK_RUNTIME=native|docker (or --runtime) forces one.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from async_rabbitmq.lab import scenarios as sc
from common.settings import ROOT, get_settings
from common.vocabulary import OrderStatus
from labkit import evidence
from labkit.stack import get_stack
from labkit.stats import Summary

PART_DIR = ROOT / "async-rabbitmq"  # the part's folder

OUTPUT = PART_DIR / "tests" / "test_output.txt"
DOCKER_OUTPUT = PART_DIR / "tests" / "docker" / "test_output.txt"


# ---------------------------------------------------------------- evidence writer
def _lat(s: Summary) -> str:
    return f"p50 {s.median:.1f} ms, p95 {s.p95:.1f} ms, p99 {s.p99:.1f} ms, max {s.max:.1f} ms"


def _samples(samples: list, limit: int = 40) -> list[str]:
    step = max(1, len(samples) // limit)
    shown = samples[::step] + ([samples[-1]] if samples and samples[-1] not in samples[::step] else [])
    return [f"    t={t:6.2f}s  inventory_orders depth = {d}" for t, d in shown]


def _backlog(r: sc.BacklogDrain, stopped: str = "inventory-service") -> list[str]:
    m = r.mgmt_while_down
    return [
        f"  {stopped} stopped; placing {r.n} orders ...",
        f"  HTTP statuses: {r.statuses}  ({r.accepted_202}/{r.n} answered 202 Accepted)",
        f"  placed in {r.place_seconds} s ({r.place_rate} orders/s, 8 client threads); "
        f"202 latency {_lat(r.latency_ms)}",
        f"  inventory_orders depth from the broker (passive declare): {r.depth_while_down}",
        f"  management API: messages={m['messages']} ready={m['messages_ready']} "
        f"unacked={m['messages_unacknowledged']} consumers={m['consumers']} durable={m['durable']} "
        f"arguments={m['arguments']}",
        f"  restarting {stopped} (healthy after {r.inventory_restart_s} s); sampling the depth:",
        *_samples(r.samples),
        f"  final states: {r.counts}  (all {r.n} confirmed: {r.counts.get(OrderStatus.CONFIRMED) == r.n})",
        f"  all final {r.seconds_to_all_final} s after the restart began: {r.end_to_end_rate} orders/s end to end",
    ] + ([f"  drain rate seen by the inventory consumer (first to last reservation): {r.consumer_rate} orders/s"]
         if r.n >= 1000 else [])


def _delay_effect(dl: sc.Delay) -> str:
    """Whether the client waited for the slowed inventory, by the 202s' measured latency."""
    waited = dl.accept_ms.max >= dl.delay_ms
    return (f"  the slowest 202 took {dl.accept_ms.max:.1f} ms with inventory {dl.delay_ms} ms slow: "
            + ("a client waited for inventory." if waited else
               "the client did not wait for inventory; the delay moved the final state, not the 202."))


def render(res: sc.Results, runtime: str, ports: str) -> str:
    out = [evidence.header("Part B: asynchronous messaging with RabbitMQ (outbox -> orders -> inventory -> events)",
                           runtime), f"ports   : {ports}\n"]

    def section(n: int, title: str):
        out.append(f"\nTEST {n}: {title}\n" + "-" * 78)

    section(1, "Backlog drain (inventory down, orders still accepted)")
    out += _backlog(res.backlog_small)
    big = res.backlog_big
    out.append(f"\n  the same at {big.n} orders:")
    out += _backlog(big)

    a, b = res.idempotency.same_run, res.idempotency.across_restart
    section(2, "Idempotency (the same event_id delivered twice)")
    out += [f"  (a) order {a.order_id} (event_id {a.event_id}, 3 x pizza) placed, then the same OrderPlaced",
            "      published again by hand:",
            f"      pizza stock: {a.stock_pizza} (expected {a.expected_pizza}: reserved once)",
            f"      order status: {a.order['status']}; notifications for the order: {len(a.notifications)}",
            "      inventory-service log lines for this event_id:",
            *[f"        {ln}" for ln in a.logs],
            f"  (b) event {b.event_id} (5 x burger) delivered, inventory-service restarted, then the duplicate",
            f"      (queued while it was stopped: depth {b.depth_while_stopped}):",
            f"      burger stock: {b.stock_burger_before} -> {b.stock_burger} (expected {b.expected_burger})",
            "      inventory-service log lines for this event_id (two processes):",
            *[f"        {ln}" for ln in b.logs]]

    d = res.dead_letters
    section(3, "Dead-letter queue (poison messages, good orders between them)")
    out.append(f"  inventory_orders arguments: {d.queue_arguments}")
    out.append(f"  {len(d.sent)} poison messages published, each followed by a good order; orders_dlq depth = "
               f"{d.dlq_depth}")
    out.append("  expected reason    | x-reject-reason in orders_dlq | detail")
    for sent, got in zip(d.sent, d.dead_letters, strict=False):
        out.append(f"  {sent.expected:<18} | {str(got['reason']):<29} | {str(got['detail'])[:60]}")
    out.append(f"  good orders between them: {d.good_orders} -> {d.good_counts}")

    o = res.broker_outage
    section(4, "Broker outage (RabbitMQ stopped, orders still accepted)")
    out += [f"  rabbitmq stopped; {o.n} orders placed: HTTP {o.statuses} ({o.accepted_202} x 202)",
            f"  while down: order status '{o.status_while_down}', outbox backlog {o.outbox_backlog_while_down},"
            f" relay connected: {o.broker_connected_while_down}",
            f"  rabbitmq started (healthy after {o.broker_restart_s} s); relay and consumers reconnected "
            f"(consuming: {o.consumers_back})",
            f"  final states {o.seconds_to_all_final} s after the start began: {o.counts}"]

    c = res.crash
    section(5, f"Crash (kill -9 inventory-service in the middle of a {c.n}-order drain)")
    out += [f"  {c.accepted_202} orders accepted with inventory stopped; inventory started, then killed with"
            f" SIGKILL (pid {c.killed_pid})",
            f"  after it had processed >= {c.killed_after} (seen: {c.processed_seen_before_kill});"
            f" inventory_orders depth right after (unacked ones back in the queue): {c.depth_after_kill}",
            "  inventory-service started again:",
            f"  redelivered messages already committed before the kill (ignored as duplicates):"
            f" {c.duplicates_after_restart}",
            f"  final states: {c.counts}  reasons: {c.final_reasons}",
            f"  inventory's reservation records: {c.reservations}",
            f"  notifications recorded: {c.notifications} for {c.n} orders",
            "  stock arithmetic per item: initial - units of confirmed orders == final stock",
            *[f"    {item:<7} {a.initial:>6} - {a.confirmed_units:>6} = {a.initial - a.confirmed_units:>6}"
              f"  final {a.final:>6}  exact: {a.exact}" for item, a in c.arithmetic.items()]]

    ff, dl = res.faults.force_failure, res.faults.delay
    section(6, "Fault switches (FORCE_FAILURE, INVENTORY_DELAY_MS)")
    out += [f"  FORCE_FAILURE=true: HTTP {ff.statuses}, final {ff.counts}, reasons {ff.reasons}",
            f"  INVENTORY_DELAY_MS={dl.delay_ms}: HTTP {dl.statuses}, 202 latency {_lat(dl.accept_ms)};"
            f" all final after {dl.seconds_to_all_final} s: {dl.counts}",
            _delay_effect(dl)]

    out.append("\nScenario durations: " + ", ".join(f"{k} {v} s" for k, v in res.seconds.items()))
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runtime", choices=("native", "docker"), default=None)
    ap.add_argument("--output", type=Path, default=None, help=f"default {OUTPUT} ({DOCKER_OUTPUT} under Docker)")
    ap.add_argument("--small", action="store_true", help="pytest's scale (1,000 orders) instead of 10,000/5,000")
    args = ap.parse_args(argv)
    stack = get_stack("async-rabbitmq", args.runtime, get_settings(), admin=True)
    settings = stack.settings  # under Docker: the published ports and the compose file's RabbitMQ account
    stack.ensure_up()  # the whole part, as `make up` does
    with stack.admin_api():
        results = sc.run_all(stack, settings, full=not args.small,
                             progress=lambda m: print(f"[async-rabbitmq] {m}", flush=True))
    ports = (f"order {settings.order_port}, inventory {settings.inventory_port}, notification "
             f"{settings.notification_port}, AMQP {settings.rabbitmq_port}, management {settings.rabbitmq_mgmt_port}")
    output = args.output or (DOCKER_OUTPUT if stack.runtime == "docker" else OUTPUT)
    evidence.write(output, render(results, stack.describe(), ports))
    print(f"[async-rabbitmq] evidence written to {output}")
    return 0
