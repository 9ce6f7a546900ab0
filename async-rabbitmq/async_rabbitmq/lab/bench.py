"""Part B benchmarks against a live native stack (`make up PART=async-rabbitmq`): each figure with its same-run
baseline and the ratio. `python -m async_rabbitmq.lab.bench` prints them as JSON; `run()` returns them.

- 202 latency: sequential POST /order (p50/p99), against the bare Flask echo every part is compared with.
- publish rate with confirms: the order-service outbox relay (SQLite outbox -> broker, confirms pipelined)
  against a raw pika publisher with the same confirm window, same message size, same durable queue.
- drain rate: the inventory consumer (parse, reserve in SQLite, publish the result with confirms, ack)
  against a raw pika consumer that only acks (prefetch as configured, ack multiple every 100), and against
  a raw pika consumer doing the same broker work as ours, like for like (`like_for_like`: same prefetch and
  batches, a result of the same size to two durable queues, mandatory, confirmed, then acked); measured with
  the whole stack running (`inventory`) and with the two event consumers stopped (`inventory_alone`).
`python -m async_rabbitmq.lab.bench drain` measures the drain figures only.
Each figure is the best of `repeat` interleaved runs: other processes share the machine's 2 cores.
"""
from __future__ import annotations

import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import pika

from async_rabbitmq.lab.client import Client
from async_rabbitmq.messaging import topology
from async_rabbitmq.messaging.amqp import blocking_connection, parameters, pop_confirmed
from async_rabbitmq.messaging.messages import INVENTORY_RESERVED, InventoryResult, OrderPlaced
from async_rabbitmq.messaging.nodes import queue_type
from async_rabbitmq.order_service.relay import OutboxRelay
from async_rabbitmq.order_service.store import OrderStore
from common.errors import exit_status
from common.ids import generate_event_id
from common.menu import ITEMS
from common.settings import Settings, get_settings
from labkit.benchkit import accept_latency
from labkit.stack import NativeStack, wait_for, wait_healthy

# The publish benchmark has its own exchange: `orders` is a fanout, whatever is published there reaches inventory.
BENCH_EXCHANGE, BENCH_QUEUE, BENCH_KEY = "bench_orders", "bench_publish", "bench.publish"
ORDER = {"student_id": "bench", "item": "pizza", "quantity": 1}
RAW_DRAIN_QUEUE = "bench_drain"
RAW_RESULTS_EXCHANGE, RAW_SINK_QUEUES = "bench_results", ("bench_sink_status", "bench_sink_notifications")
PERSISTENT = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent, content_type="application/json")


def _bodies(n: int) -> list[bytes]:
    return [OrderPlaced.new(order_id=f"ORD-bench-{i}", student_id=f"s-{i % 97}", item=ITEMS[i % len(ITEMS)],
                            quantity=1).to_bytes() for i in range(n)]


def _fresh_queue(settings: Settings, queue: str, bind_key: str | None = None) -> None:
    conn = blocking_connection(settings)
    try:
        ch = conn.channel()
        topology.declare(ch, queue_type(settings))
        ch.queue_delete(queue)
        ch.queue_declare(queue, durable=True)
        if bind_key:
            ch.exchange_declare(BENCH_EXCHANGE, "direct", durable=True)
            ch.queue_bind(queue, BENCH_EXCHANGE, bind_key)
    finally:
        conn.close()


def _delete_queue(settings: Settings, queue: str) -> None:
    conn = blocking_connection(settings)
    try:
        conn.channel().queue_delete(queue)
    finally:
        conn.close()


# ------------------------------------------------------------------------------ raw pika baselines
def raw_publish(settings: Settings, bodies: list[bytes], exchange: str, key: str, window: int) -> float:
    """A raw pika publisher: SelectConnection, persistent messages, at most `window` unconfirmed. msg/s."""
    state = {"next": 0, "confirmed": 0, "t0": 0.0, "t1": 0.0, "unconfirmed": 0}
    n = len(bodies)

    def pump(ch):
        while state["unconfirmed"] < window and state["next"] < n:
            ch.basic_publish(exchange, key, bodies[state["next"]], PERSISTENT)
            state["next"] += 1
            state["unconfirmed"] += 1

    def on_confirm(frame):
        m = frame.method
        done = m.delivery_tag - state["confirmed"] if m.multiple else 1
        state["confirmed"] += done
        state["unconfirmed"] -= done
        if state["confirmed"] >= n:
            state["t1"] = time.perf_counter()
            conn.close()
        else:
            pump(channel[0])

    channel = []

    def on_channel(ch):
        channel.append(ch)
        ch.confirm_delivery(on_confirm, callback=lambda _f: (state.__setitem__("t0", time.perf_counter()), pump(ch)))

    conn = pika.SelectConnection(parameters(settings), on_open_callback=lambda c: c.channel(on_open_callback=on_channel),
                                 on_close_callback=lambda c, _r: c.ioloop.stop())
    conn.ioloop.start()
    return n / (state["t1"] - state["t0"])


def raw_consume(settings: Settings, queue: str, n: int, prefetch: int, ack_every: int = 100) -> float:
    """A raw pika consumer that only acks (multiple=True every `ack_every`). msg/s from first to last delivery."""
    state = {"got": 0, "t0": 0.0, "t1": 0.0}

    def on_message(ch, method, _props, _body):
        if state["got"] == 0:
            state["t0"] = time.perf_counter()
        state["got"] += 1
        if state["got"] % ack_every == 0 or state["got"] == n:
            ch.basic_ack(method.delivery_tag, multiple=True)
        if state["got"] == n:
            state["t1"] = time.perf_counter()
            conn.close()

    def on_channel(ch):
        ch.basic_qos(prefetch_count=prefetch, callback=lambda _f: ch.basic_consume(queue, on_message))

    conn = pika.SelectConnection(parameters(settings), on_open_callback=lambda c: c.channel(on_open_callback=on_channel),
                                 on_close_callback=lambda c, _r: c.ioloop.stop())
    conn.ioloop.start()
    return (n - 1) / (state["t1"] - state["t0"])


def _result_body() -> bytes:
    """A result the size of the inventory consumer's (an InventoryReserved event, encoded as it encodes it)."""
    return InventoryResult(event_type=INVENTORY_RESERVED, event_id=generate_event_id(), order_id="ORD-bench-0",
                          causation_id=generate_event_id(), student_id="s-0", item=ITEMS[0], quantity=1,
                          timestamp=time.time(), remaining=9_999_999).to_bytes()


def _fresh_results(settings: Settings) -> None:
    """The raw consumer's results exchange with two durable queues bound, as `inventory_events` has (order
    status and notifications)."""
    conn = blocking_connection(settings)
    try:
        ch = conn.channel()
        ch.exchange_declare(RAW_RESULTS_EXCHANGE, "topic", durable=True)
        for q in RAW_SINK_QUEUES:
            ch.queue_delete(q)
            ch.queue_declare(q, durable=True)
            ch.queue_bind(q, RAW_RESULTS_EXCHANGE, "inventory.*")
    finally:
        conn.close()


def like_for_like(settings: Settings) -> str:
    """What the raw consumer of `raw_consume_publish` does, said in the benchmark's output."""
    return (f"pika SelectConnection, prefetch {settings.rabbitmq_prefetch}; deliveries taken in batches of "
            f"{min(settings.consumer_batch, settings.rabbitmq_prefetch)}; per delivery one persistent, mandatory "
            f"result of {len(_result_body())} bytes (an InventoryReserved event's size, with a message id and type) "
            f"published to a topic exchange bound to {len(RAW_SINK_QUEUES)} durable queues (as inventory_events "
            "routes to order_status and notifications); publisher confirms; ack multiple up to the highest "
            "delivery whose result is confirmed, at each confirm; a returned result fails the run. No parsing, "
            "no storage, no logging")


def raw_consume_publish(settings: Settings, queue: str, n: int) -> float:
    """A raw pika consumer doing the broker work our inventory consumer does (`like_for_like` says exactly what),
    and nothing else. msg/s from the first delivery to the last ack."""
    prefetch, batch = settings.rabbitmq_prefetch, min(settings.consumer_batch, settings.rabbitmq_prefetch)
    body = _result_body()
    props = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent, content_type="application/json",
                                 message_id=generate_event_id(), type="InventoryReserved")
    state = {"got": 0, "seq": 0, "acked": 0, "returned": 0, "t0": 0.0, "t1": 0.0}
    pending: dict[int, int] = {}  # publish seq -> delivery tag
    held: list[int] = []  # delivery tags of the batch being gathered

    def on_message(ch, method, _props, _body):
        if state["got"] == 0:
            state["t0"] = time.perf_counter()
        state["got"] += 1
        held.append(method.delivery_tag)
        if len(held) < batch and state["got"] < n:
            return
        for tag in held:
            ch.basic_publish(RAW_RESULTS_EXCHANGE, topology.RESERVED_KEY, body, props, mandatory=True)
            state["seq"] += 1
            pending[state["seq"]] = tag
        held.clear()

    def on_return(_ch, _method, _props, _body):
        state["returned"] += 1

    def on_confirm(frame):
        m = frame.method
        top = max(pop_confirmed(pending, m), default=0)
        if top and not state["returned"]:
            channel[0].basic_ack(top, multiple=True)
            state["acked"] = max(state["acked"], top)
        if state["acked"] >= n or state["returned"]:
            state["t1"] = time.perf_counter()
            conn.close()

    channel = []

    def on_channel(ch):
        channel.append(ch)
        ch.add_on_return_callback(on_return)
        ch.confirm_delivery(on_confirm)
        ch.basic_qos(prefetch_count=prefetch, callback=lambda _f: ch.basic_consume(queue, on_message))

    conn = pika.SelectConnection(parameters(settings), on_open_callback=lambda c: c.channel(on_open_callback=on_channel),
                                 on_close_callback=lambda c, _r: c.ioloop.stop())
    conn.ioloop.start()
    if state["returned"]:
        raise RuntimeError(f"the broker returned {state['returned']} results of the raw consumer: no queue bound")
    return (n - 1) / (state["t1"] - state["t0"])


# ------------------------------------------------------------------------------ our components
class _TimedRelay(OutboxRelay):
    """The real relay, noting when the last record was marked (no polling thread competing for the GIL)."""

    exchange = BENCH_EXCHANGE

    def __init__(self, settings: Settings, store: OrderStore, target: int):
        super().__init__(settings, store)
        self.target, self.done, self.done_at = target, threading.Event(), 0.0

    def _mark(self) -> None:
        super()._mark()
        if self.published >= self.target and not self.done.is_set():
            self.done_at = time.perf_counter()
            self.done.set()


def relay_publish(settings: Settings, n: int) -> float:
    """The real OutboxRelay over a temp outbox of n records (routed to the bench queue). msg/s."""
    with tempfile.TemporaryDirectory() as tmp:
        store = OrderStore(Path(tmp) / "orders.db")
        for lo in range(0, n, 1000):
            events = [OrderPlaced.new(order_id=f"ORD-bench-{j}", student_id=f"s-{j % 97}", item=ITEMS[j % len(ITEMS)],
                                      quantity=1) for j in range(lo, min(n, lo + 1000))]
            store.enqueue([(ev.event_id, BENCH_KEY, ev.to_bytes()) for ev in events])
        relay = _TimedRelay(settings, store, n)
        t = threading.Thread(target=relay.run, daemon=True)
        t.start()
        relay.connected.wait(30)
        t0 = time.perf_counter()
        if not relay.done.wait(300):
            raise TimeoutError("the relay did not publish the outbox")
        secs = relay.done_at - t0
        relay.stop()
        t.join(10)
        return n / secs


def inventory_drain(settings: Settings, stack: NativeStack, lab: Client, n: int, alone: bool = False) -> dict:
    """Stop inventory, queue n OrderPlaced, start it: the consumer-side rate (first to last reservation).
    alone=True also stops the two event consumers during the drain (the raw baselines run alone too)."""
    lab.wait_idle()
    lab.reset_stock({item: 10_000_000 for item in ITEMS})
    others = ("order-service", "notification-service") if alone else ()
    stack.stop("inventory-service")
    for svc in others:
        stack.stop(svc)
    raw_publish(settings, _bodies(n), topology.ORDERS_EXCHANGE, topology.ORDER_PLACED_KEY, window=1000)
    t0 = time.perf_counter()
    stack.start("inventory-service")
    wait_for(lambda: sum(lab.reservations()["counts"].values()) >= n, 300, interval=0.2, what="the drain")
    wall = time.perf_counter() - t0
    r = lab.reservations()
    lab.wait_idle()
    for svc in reversed(others):
        stack.start(svc)
    for q in (topology.ORDER_STATUS_QUEUE, topology.NOTIFICATIONS_QUEUE):
        lab.wait_idle(q, timeout=120)
    return {"consumer_rate": (n - 1) / (r["last_at"] - r["first_at"]), "wall_rate_incl_start": n / wall}


def run(progress=print, n: int = 10_000, latency_n: int = 2_000, repeat: int = 5, drain_repeat: int = 3,
        settings: Settings | None = None, echo_port: int | None = None,
        only: tuple[str, ...] = ("latency", "publish", "drain")) -> dict:
    """Every figure by default; `only` picks some of them (`python -m async_rabbitmq.lab.bench drain`)."""
    settings = settings or get_settings()
    echo_port = echo_port or settings.order_port + 9  # 6009 by default, like Part A's baseline
    stack = NativeStack("async-rabbitmq", settings, admin=True)
    lab = Client(settings)
    for url in (settings.order_url, settings.inventory_url, settings.notification_url):
        wait_healthy(url, 60)
    out: dict = {"n": n, "prefetch": settings.rabbitmq_prefetch, "consumer_batch": settings.consumer_batch,
                 "outbox_max_inflight": settings.outbox_max_inflight}

    if "latency" in only:
        _latency(progress, out, settings, lab, latency_n, echo_port)
    if "publish" in only:
        _publish(progress, out, settings, n, repeat)
    if "drain" in only:
        _drain(progress, out, settings, stack, lab, n, drain_repeat)
    lab.reset_stock()
    return out


def _latency(progress, out: dict, settings: Settings, lab: Client, latency_n: int, echo_port: int) -> None:
    progress(f"202 latency: {latency_n} sequential POST /order, then the same against a bare Flask echo")
    lab.wait_idle()
    lab.reset_stock({item: 10_000_000 for item in ITEMS})
    out["latency_202_ms"] = accept_latency(settings.order_url.rstrip("/") + "/order", ORDER, latency_n, echo_port)
    lab.wait_idle(timeout=120)


def _publish(progress, out: dict, settings: Settings, n: int, repeat: int) -> None:
    progress(f"publish with confirms: outbox relay vs raw pika publisher, {n} persistent messages, "
             f"best of {repeat} interleaved runs each")
    raws, relays = [], []
    try:
        for _ in range(repeat):
            _fresh_queue(settings, BENCH_QUEUE, BENCH_KEY)
            raws.append(raw_publish(settings, _bodies(n), BENCH_EXCHANGE, BENCH_KEY,
                                    settings.outbox_max_inflight))
            _fresh_queue(settings, BENCH_QUEUE, BENCH_KEY)
            relays.append(relay_publish(settings, n))
    finally:
        _delete_queue(settings, BENCH_QUEUE)
    raw, relay = max(raws), max(relays)
    out["publish_rate"] = {"relay": round(relay), "raw_pika": round(raw), "ratio": round(relay / raw, 3),
                           "runs": {"relay": [round(x) for x in relays], "raw_pika": [round(x) for x in raws]}}


def _drain(progress, out: dict, settings: Settings, stack: NativeStack, lab: Client, n: int, drain_repeat: int) -> None:
    progress(f"drain: inventory consumer vs raw pika consumers, {n} messages, best of {drain_repeat} runs each")
    raw_only, raw_pub, inv, alone = [], [], [], []
    try:
        for _ in range(drain_repeat):
            _fresh_queue(settings, RAW_DRAIN_QUEUE)
            raw_publish(settings, _bodies(n), "", RAW_DRAIN_QUEUE, window=1000)
            raw_only.append(raw_consume(settings, RAW_DRAIN_QUEUE, n, settings.rabbitmq_prefetch))
            _fresh_queue(settings, RAW_DRAIN_QUEUE)
            _fresh_results(settings)
            raw_publish(settings, _bodies(n), "", RAW_DRAIN_QUEUE, window=1000)
            raw_pub.append(raw_consume_publish(settings, RAW_DRAIN_QUEUE, n))
            inv.append(inventory_drain(settings, stack, lab, n))
            alone.append(inventory_drain(settings, stack, lab, n, alone=True))
    finally:
        _delete_queue(settings, RAW_DRAIN_QUEUE)
        for q in RAW_SINK_QUEUES:
            _delete_queue(settings, q)
    best = max(inv, key=lambda r: r["consumer_rate"])
    rate = best["consumer_rate"]
    out["drain_rate"] = {
        "inventory": round(rate), "inventory_wall_incl_start": round(best["wall_rate_incl_start"]),
        "raw_pika_ack_only": round(max(raw_only)), "ratio": round(rate / max(raw_only), 3),
        "raw_pika_publish_confirm_ack": round(max(raw_pub)), "ratio_like_for_like": round(rate / max(raw_pub), 3),
        "inventory_alone": round(max(r["consumer_rate"] for r in alone)),
        "ratio_alone": round(max(r["consumer_rate"] for r in alone) / max(raw_only), 3),
        "ratio_alone_like_for_like": round(max(r["consumer_rate"] for r in alone) / max(raw_pub), 3),
        "target_2000_met": rate >= 2000, "like_for_like_baseline": like_for_like(settings),
        "runs": {"inventory": [round(r["consumer_rate"]) for r in inv], "raw_pika_ack_only": [round(x) for x in raw_only],
                 "raw_pika_publish_confirm_ack": [round(x) for x in raw_pub],
                 "inventory_alone": [round(r["consumer_rate"]) for r in alone]}}


def main(argv: list[str]) -> int:
    """`python -m async_rabbitmq.lab.bench [latency|publish|drain ...]`: the figures named (default: all), as JSON."""
    only = tuple(argv) or ("latency", "publish", "drain")
    if unknown := set(only) - {"latency", "publish", "drain"}:
        print(f"unknown figure(s) {sorted(unknown)}: choose from latency, publish, drain", file=sys.stderr)
        return 2
    print(json.dumps(run(progress=lambda m: print(f"[bench] {m}", file=sys.stderr, flush=True), only=only),
                     indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(exit_status(lambda: main(sys.argv[1:])))
