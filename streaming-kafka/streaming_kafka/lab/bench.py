"""Part C benchmarks against a live native stack (`make up PART=streaming-kafka`): each figure with its same-run
baseline and the ratio. `python -m streaming_kafka.lab.bench` prints them as JSON; `run()` returns them.

- 202 latency: sequential POST /order (p50/p99), against the bare Flask echo every part is compared with.
- `/bulk` events/s (generate, send with acks=all, confirm) against a raw producer of the same client with the same
  settings sending the same number of pre-built events of the same shape to a scratch topic. Measured with
  both consumers stopped, so the figure is the producer path alone, then the consumers catch up.
- end to end: `/bulk` of N events with everything running, until lag 0 in both groups; baseline: the raw
  producer's time for N plus a raw consumer's time to read N back (the broker-bound floor).
- replay events/s (fresh group, decode, fold into the metrics) against a raw consumer that reads the same
  partitions up to the same end offsets without decoding.
Each figure is the best of `repeat` runs: other processes share the machine's 2 cores. On a cluster (BROKERS=3)
the raw baselines write to a scratch topic replicated like the event topics, so they pay the same replication.
KAFKA_BENCH_EVENTS sets the event count (100,000 by default).
"""
from __future__ import annotations

import json
import sys
import time

from common.errors import exit_status
from common.menu import ITEMS
from common.settings import Settings, get_settings
from labkit.benchkit import accept_latency, ratio
from labkit.stack import NativeStack, wait_for
from streaming_kafka.analytics_consumer.worker import FETCH, replay
from streaming_kafka.events import iso_ms, now_ms, order_placed_bytes
from streaming_kafka.kafka_io import TopicPartition, TopicSpec, make_producer, make_reader
from streaming_kafka.lab.client import Client
from streaming_kafka.lab.scenarios import wait_caught_up
from streaming_kafka.topology import EVENT_TOPICS, admin_client, replication

SCRATCH = "bench-raw"
ORDER = {"student_id": "bench", "item": "pizza", "quantity": 1}


def _events(n: int) -> list[tuple[bytes, bytes]]:
    stamp = iso_ms(now_ms())
    out = []
    for i in range(n):
        order_id = f"ORD-{now_ms()}-{i:08x}"
        out.append((order_id.encode(), order_placed_bytes(order_id, f"{i:032x}", '"bench"', ITEMS[i % len(ITEMS)],
                                                          1 + i % 3, stamp, i % 10 == 0)))
    return out


def _scratch_topic(settings: Settings) -> None:
    """A fresh scratch topic with the event topics' partitions, replication factor and min.insync.replicas."""
    factor, min_isr = replication(settings)
    admin = admin_client(settings)
    try:
        if SCRATCH in admin.list_topics():
            admin.delete_topics([SCRATCH])
            wait_for(lambda: SCRATCH not in admin.list_topics(), 60, interval=0.5, what="the scratch topic deleted")
        admin.create_topics([TopicSpec(SCRATCH, settings.kafka_partitions, factor, {"min.insync.replicas": str(min_isr)})])
    finally:
        admin.close()


def raw_produce(settings: Settings, events: list, **overrides) -> float:
    """Seconds for a raw producer to send and confirm every event (connection set up beforehand)."""
    producer = make_producer(settings, bulk=True, **overrides)
    producer.send(SCRATCH, key=b"warmup", value=b"{}").get(30)
    t0 = time.perf_counter()
    futures = [producer.send(SCRATCH, key=k, value=v) for k, v in events]
    producer.flush()
    for f in futures:
        f.get(30)
    seconds = time.perf_counter() - t0
    producer.close()
    return seconds


def raw_consume(settings: Settings, topics: tuple[str, ...]) -> tuple[int, float]:
    """Records and seconds for a raw consumer reading `topics` from the start to their current end, no decoding."""
    consumer = make_reader(settings, max_poll_records=20_000, **FETCH)
    tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
    consumer.assign(tps)
    t0 = time.perf_counter()
    consumer.seek_to_beginning(*tps)
    end = consumer.end_offsets(tps)
    remaining, n = {tp for tp in tps if end[tp] > 0}, 0
    while remaining:
        for tp, recs in consumer.poll(timeout_ms=1000).items():
            n += sum(1 for r in recs if r.offset < end[tp])
            if consumer.position(tp) >= end[tp]:
                remaining.discard(tp)
                consumer.pause(tp)
    seconds = time.perf_counter() - t0
    consumer.close()
    return n, seconds


def run(progress=print, count: int | None = None, repeat: int = 2, latency_n: int = 300,
        settings: Settings | None = None, echo_port: int | None = None) -> dict:
    settings = settings or get_settings()
    count = count or settings.kafka_bench_events
    stack = NativeStack("streaming-kafka", settings, admin=True)
    client = Client(settings)
    client.reset_stock()
    _scratch_topic(settings)
    events = _events(count)

    progress(f"202 latency: {latency_n} sequential POST /order, then the same against a bare Flask echo")
    latency = accept_latency(settings.order_url.rstrip("/") + "/order", ORDER, latency_n,
                             echo_port or settings.order_port + 9)
    wait_caught_up(settings, timeout=300)

    progress(f"raw producer vs /bulk, {count} events each, consumers stopped")
    stack.stop("inventory-consumer")
    stack.stop("analytics-consumer")
    raw_s, bulk_s, raw_default_s = [], [], []
    try:
        for _ in range(repeat):
            raw_s.append(raw_produce(settings, events))
            bulk_s.append(client.bulk(count, 0.1)["seconds"])
        raw_default_s.append(raw_produce(settings, events[: count // 5], linger_ms=0, compression_type=None,
                                         batch_size=16384) * 5)
    finally:
        stack.start("inventory-consumer")
        stack.start("analytics-consumer")
    wait_caught_up(settings, timeout=900)
    raw_rate, bulk_rate = count / min(raw_s), count / min(bulk_s)

    progress(f"end to end: /bulk {count} events until lag 0 in both groups")
    e2e = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        client.bulk(count, 0.1)
        wait_caught_up(settings, timeout=900)
        e2e.append(time.perf_counter() - t0)
    n_raw, raw_consume_s = raw_consume(settings, (SCRATCH,))
    floor = min(raw_s) + raw_consume_s * count / max(n_raw, 1)

    progress("replay vs raw consumer (both event topics, same partitions)")
    replays, raws = [], []
    for _ in range(repeat):
        n, s = raw_consume(settings, EVENT_TOPICS)
        raws.append((n, s))
        r = replay(settings)
        replays.append((r.events, r.seconds))
        time.sleep(1.0)  # the next replay gets its own group name (one-second resolution)
    replay_rate = max(n / s for n, s in replays)
    raw_read_rate = max(n / s for n, s in raws)

    admin = admin_client(settings)
    try:
        admin.delete_topics([SCRATCH])
    finally:
        admin.close()
    factor, min_isr = replication(settings)
    return {
        "command": "python -m streaming_kafka.lab.bench (against `make up PART=streaming-kafka`)",
        "latency_202_ms": latency,
        "bulk": {"events": count, "events_per_s": round(bulk_rate), "raw_producer_events_per_s": round(raw_rate),
                 "ratio": ratio(bulk_rate, raw_rate),
                 "raw_producer_library_defaults_events_per_s": round(count / min(raw_default_s)),
                 "runs_seconds": {"bulk": [round(x, 3) for x in bulk_s], "raw": [round(x, 3) for x in raw_s]}},
        "end_to_end": {"events": count, "seconds_to_lag0_both_groups": round(min(e2e), 2),
                       "raw_produce_plus_consume_seconds": round(floor, 2), "ratio": ratio(min(e2e), floor),
                       "events_per_s": round(count / min(e2e))},
        "replay": {"events": replays[0][0], "events_per_s": round(replay_rate),
                   "raw_consumer_events_per_s": round(raw_read_rate), "ratio": ratio(replay_rate, raw_read_rate)},
        "settings": {"client": settings.kafka_client,
                     "compression": settings.kafka_compression, "linger_ms": settings.kafka_linger_ms,
                     "batch_bytes": settings.kafka_batch_bytes, "partitions": settings.kafka_partitions,
                     "brokers": len(settings.kafka_servers), "replication_factor": factor,
                     "min_insync_replicas": min_isr},
        "notes": "Best of {} runs each; other processes share the 2 cores. Raw baselines use the same client "
                 "library and tuning without the service around it.".format(repeat),
    }


if __name__ == "__main__":
    sys.exit(exit_status(lambda: print(json.dumps(run(progress=lambda m: print(f"[bench] {m}", file=sys.stderr,
                                                                              flush=True)), indent=1))))
