"""Part C benchmarks against a live native stack (`make up PART=streaming-kafka`), under the Kafka client the
settings choose (`KAFKA_CLIENT`): each figure with its same-run baseline, made with the same client, and the ratio.
`python -m streaming_kafka.lab.bench [figure ...]` prints them as JSON (figures: latency, bulk, end_to_end, replay;
all by default); `run()` returns them.

- 202 latency: sequential POST /order (p50/p99), against the bare Flask echo every part is compared with.
- `/bulk` events/s (generate, send with acks=all, confirm) against a raw producer of the same client with the same
  settings sending the same number of pre-built events of the same shape to a scratch topic, in one batch awaited
  together, each connected before the clock starts (the service by a `/bulk` of 1,000 first). Measured with both
  consumers stopped, so the figure is the producer path alone; then they catch up.
- end to end: `/bulk` of N events with everything running, until lag 0 in both groups; baseline: the same broker
  work done by raw clients of the same library (`raw_pipeline`): N events produced, a group that reads each one,
  produces one result each and commits per batch, a second group that reads both topics and commits, timed to
  lag 0 in both groups the same way.
- replay events/s (fresh group, decode, fold into the metrics) against a raw consumer that reads the same
  partitions up to the same end offsets without decoding: their values and offsets, as the replay reads them
  (`ratio`); also against the same raw consumer building the seam's record object per message (`poll`), the
  baseline of earlier runs (`ratio_vs_record_objects`).
Each figure is the best of `repeat` runs: other processes share the machine's 2 cores. On a cluster (BROKERS=3)
the raw baselines write to scratch topics replicated like the event topics, so they pay the same replication.
KAFKA_BENCH_EVENTS sets the event count (100,000 by default).
"""
from __future__ import annotations

import json
import multiprocessing
import sys
import time

from common.errors import exit_status
from common.menu import ITEMS
from common.settings import Settings, get_settings
from labkit.benchkit import accept_latency, ratio
from labkit.stack import NativeStack, wait_for
from streaming_kafka.analytics_consumer.gc_tuning import tune_gc
from streaming_kafka.analytics_consumer.worker import FETCH, replay
from streaming_kafka.events import iso_ms, now_ms, order_placed_bytes
from streaming_kafka.kafka_io import TopicPartition, TopicSpec, make_consumer, make_producer, make_reader, new_batch
from streaming_kafka.lab.client import Client
from streaming_kafka.lab.scenarios import wait_caught_up
from streaming_kafka.lag import consumer_lag, total_lag
from streaming_kafka.topology import EVENT_TOPICS, admin_client, replication

SCRATCH = "bench-raw"
SCRATCH_RESULTS = "bench-raw-results"  # the raw pipeline's results (the inventory consumer's InventoryEvents)
ORDER = {"student_id": "bench", "item": "pizza", "quantity": 1}
FIGURES = ("latency", "bulk", "end_to_end", "replay")


def _events(n: int) -> list[tuple[bytes, bytes]]:
    stamp = iso_ms(now_ms())
    out = []
    for i in range(n):
        order_id = f"ORD-{now_ms()}-{i:08x}"
        out.append((order_id.encode(), order_placed_bytes(order_id, f"{i:032x}", '"bench"', ITEMS[i % len(ITEMS)],
                                                          1 + i % 3, stamp, i % 10 == 0)))
    return out


def _scratch_topics(settings: Settings, names: tuple[str, ...] = (SCRATCH, SCRATCH_RESULTS)) -> None:
    """Fresh scratch topics with the event topics' partitions, replication factor and min.insync.replicas."""
    factor, min_isr = replication(settings)
    admin = admin_client(settings)
    try:
        old = [n for n in names if n in admin.list_topics()]
        if old:
            admin.delete_topics(old)
            wait_for(lambda: not set(old) & admin.list_topics(), 60, interval=0.5, what="the scratch topics deleted")
        admin.create_topics([TopicSpec(n, settings.kafka_partitions, factor, {"min.insync.replicas": str(min_isr)})
                             for n in names])
    finally:
        admin.close()


def _drop_scratch_topics(settings: Settings) -> None:
    admin = admin_client(settings)
    try:
        admin.delete_topics([n for n in (SCRATCH, SCRATCH_RESULTS) if n in admin.list_topics()])
    finally:
        admin.close()


def raw_produce(settings: Settings, events: list, **overrides) -> float:
    """Seconds for a raw producer to send and confirm every event (connection set up beforehand): one batch,
    awaited together (confluent-kafka: one delivery callback counting them; kafka-python-ng: its futures)."""
    producer = make_producer(settings, bulk=True, **overrides)
    producer.send(SCRATCH, key=b"warmup", value=b"{}").get(30)
    t0 = time.perf_counter()
    batch = new_batch(producer, SCRATCH)
    batch.send_all(events)
    producer.flush()
    batch.wait()
    seconds = time.perf_counter() - t0
    producer.close()
    return seconds


def raw_consume(settings: Settings, topics: tuple[str, ...], records: bool = False) -> tuple[int, float]:
    """Records and seconds for a raw consumer reading `topics` from the start to their current end, no decoding:
    each record's value and offset, read the way the replay reads them (`poll_values`); `records`: as the seam's
    record objects (`poll`), the way every consumer read before `poll_values` existed."""
    consumer = make_reader(settings, max_poll_records=20_000, **FETCH)
    tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
    consumer.assign(tps)
    t0 = time.perf_counter()
    consumer.seek_to_beginning(*tps)
    end = consumer.end_offsets(tps)
    remaining, n = {tp for tp in tps if end[tp] > 0}, 0
    while remaining:
        if records:
            for tp, recs in consumer.poll(timeout_ms=1000).items():
                n += sum(1 for r in recs if r.offset < end[tp])
                if consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
                    consumer.pause(tp)
            continue
        for tp, got in consumer.poll_values(timeout_ms=1000).items():
            n += len(got.values) if got.offsets[-1] < end[tp] else sum(1 for o in got.offsets if o < end[tp])
            if consumer.position(tp) >= end[tp]:
                remaining.discard(tp)
                consumer.pause(tp)
    seconds = time.perf_counter() - t0
    consumer.close()
    return n, seconds


def _raw_member(group: str, topics: tuple[str, ...], results_to: str | None, max_records: int, ready, stop) -> None:
    """One raw group member (in a process of its own, as each consumer service is): poll a batch; with
    `results_to`, produce one result per record (same key, value and partition: co-partitioned) and wait for
    their acks=all; commit the batch's offsets synchronously; until `stop`."""
    settings = get_settings()
    consumer = make_consumer(settings, group, max_poll_records=max_records, **FETCH)
    producer = make_producer(settings, bulk=True, linger_ms=5) if results_to else None
    consumer.subscribe(list(topics), on_assign=lambda tps: ready.set())
    try:
        while not stop.is_set():
            batch = consumer.poll(timeout_ms=200)
            if not batch:
                continue
            if producer is not None and results_to is not None:
                sends = new_batch(producer, results_to)
                for tp, recs in batch.items():
                    sends.send_all([(r.key, r.value) for r in recs], partition=tp.partition)
                producer.flush()
                sends.wait()
            consumer.commit({tp: recs[-1].offset + 1 for tp, recs in batch.items()})
    finally:
        consumer.close()
        if producer is not None:
            producer.close()


def raw_pipeline(settings: Settings, events: list, stamp: str) -> float:
    """Seconds for raw clients to do `/bulk`'s end-to-end broker work, timed to lag 0 in both groups as the
    stack is: produce the events (`raw_produce`'s way), while an inventory-like group (the inventory consumer's
    records per poll) reads each, produces one result each and commits, and an analytics-like group (5,000 per
    poll) reads both topics and commits. Each member runs in a process of its own and has joined before the clock
    starts."""
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    groups = {f"bench-raw-inventory-{stamp}": ((SCRATCH,), SCRATCH_RESULTS, settings.kafka_poll_records),
              f"bench-raw-analytics-{stamp}": ((SCRATCH, SCRATCH_RESULTS), None, 5000)}
    members = []
    for group, (topics, results_to, max_records) in groups.items():
        ready = ctx.Event()
        proc = ctx.Process(target=_raw_member, args=(group, topics, results_to, max_records, ready, stop),
                           daemon=True)
        proc.start()
        members.append((proc, ready))
    try:
        for _, ready in members:
            if not ready.wait(120):
                raise TimeoutError("a raw group member did not join within 120 s")
        producer = make_producer(settings, bulk=True)
        producer.send(SCRATCH, key=b"warmup", value=b"{}").get(30)
        t0 = time.perf_counter()
        batch = new_batch(producer, SCRATCH)
        batch.send_all(events)
        producer.flush()
        batch.wait()
        produced = len(events) + 1

        def caught_up() -> bool:
            inventory, analytics = (consumer_lag(settings, g, t[0]) for g, t in groups.items())
            return (sum(r.log_end_offset for r in inventory) >= produced and not total_lag(inventory)
                    and not total_lag(analytics))

        wait_for(caught_up, 900, interval=0.25, what="lag 0 in both raw groups")
        seconds = time.perf_counter() - t0
        producer.close()
        return seconds
    finally:
        stop.set()
        for proc, _ in members:
            proc.join(30)
            if proc.is_alive():
                proc.kill()


def latency_figure(settings: Settings, progress, latency_n: int = 300, echo_port: int | None = None) -> dict:
    progress(f"202 latency: {latency_n} sequential POST /order, then the same against a bare Flask echo")
    latency = accept_latency(settings.order_url.rstrip("/") + "/order", ORDER, latency_n,
                             echo_port or settings.order_port + 9)
    wait_caught_up(settings, timeout=300)
    return latency


def bulk_figure(settings: Settings, progress, events: list, repeat: int) -> dict:
    count = len(events)
    stack = NativeStack("streaming-kafka", settings, admin=True)
    client = Client(settings)
    progress(f"raw producer vs /bulk, {count} events each, consumers stopped")
    stack.stop("inventory-consumer")
    stack.stop("analytics-consumer")
    raw_s, bulk_s, raw_default_s = [], [], []
    try:
        # the service's bulk producer connected (it is made on first use), as raw_produce's is before its clock starts
        client.bulk(1000, 0.1)
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
    return {"events": count, "events_per_s": round(bulk_rate), "raw_producer_events_per_s": round(raw_rate),
            "ratio": ratio(bulk_rate, raw_rate),
            "raw_producer_library_defaults_events_per_s": round(count / min(raw_default_s)),
            "runs_seconds": {"bulk": [round(x, 3) for x in bulk_s], "raw": [round(x, 3) for x in raw_s]}}


def end_to_end_figure(settings: Settings, progress, events: list, repeat: int) -> dict:
    count = len(events)
    client = Client(settings)
    progress(f"end to end: /bulk {count} events until lag 0 in both groups, and the raw clients' same work")
    ours, raw = [], []
    for i in range(repeat):
        t0 = time.perf_counter()
        client.bulk(count, 0.1)
        wait_caught_up(settings, timeout=900)
        ours.append(time.perf_counter() - t0)
        _scratch_topics(settings)
        raw.append(raw_pipeline(settings, events, f"{int(time.time())}-{i}"))
    return {"events": count, "seconds_to_lag0_both_groups": round(min(ours), 2),
            "raw_pipeline_seconds": round(min(raw), 2), "ratio": ratio(min(ours), min(raw)),
            "events_per_s": round(count / min(ours)),
            "runs_seconds": {"ours": [round(x, 2) for x in ours], "raw": [round(x, 2) for x in raw]}}


def replay_figure(settings: Settings, progress, repeat: int) -> dict:
    progress("replay vs raw consumer (both event topics, same partitions)")
    # The replay under the collector settings `make replay` runs it with; the raw consumers read in this same
    # process, so under the same settings (the last figure: nothing measured after it).
    tune_gc()
    replays, raws, raw_records = [], [], []
    for _ in range(repeat):
        raws.append(raw_consume(settings, EVENT_TOPICS))
        raw_records.append(raw_consume(settings, EVENT_TOPICS, records=True))
        r = replay(settings)
        replays.append((r.events, r.seconds))
        time.sleep(1.0)  # the next replay gets its own group name (one-second resolution)
    replay_rate = max(n / s for n, s in replays)
    raw_read_rate = max(n / s for n, s in raws)
    records_rate = max(n / s for n, s in raw_records)
    return {"events": replays[0][0], "events_per_s": round(replay_rate),
            "raw_consumer_events_per_s": round(raw_read_rate), "ratio": ratio(replay_rate, raw_read_rate),
            "raw_consumer_record_objects_events_per_s": round(records_rate),
            "ratio_vs_record_objects": ratio(replay_rate, records_rate)}


def run(progress=print, count: int | None = None, repeat: int = 2, latency_n: int = 300,
        settings: Settings | None = None, echo_port: int | None = None, figures: tuple[str, ...] = FIGURES) -> dict:
    settings = settings or get_settings()
    count = count or settings.kafka_bench_events
    Client(settings).reset_stock()
    _scratch_topics(settings)
    events = _events(count)
    factor, min_isr = replication(settings)
    out: dict = {"command": "python -m streaming_kafka.lab.bench (against `make up PART=streaming-kafka`)"}
    try:
        if "latency" in figures:
            out["latency_202_ms"] = latency_figure(settings, progress, latency_n, echo_port)
        if "bulk" in figures:
            out["bulk"] = bulk_figure(settings, progress, events, repeat)
        if "end_to_end" in figures:
            out["end_to_end"] = end_to_end_figure(settings, progress, events, repeat)
        if "replay" in figures:
            out["replay"] = replay_figure(settings, progress, repeat)
    finally:
        _drop_scratch_topics(settings)
    out["settings"] = {"client": settings.kafka_client,
                       "compression": settings.kafka_compression, "linger_ms": settings.kafka_linger_ms,
                       "batch_bytes": settings.kafka_batch_bytes, "partitions": settings.kafka_partitions,
                       "poll_records": settings.kafka_poll_records, "bulk_chunk": settings.bulk_chunk,
                       "brokers": len(settings.kafka_servers), "replication_factor": factor,
                       "min_insync_replicas": min_isr}
    out["notes"] = (f"Best of {repeat} runs each; other processes share the 2 cores. Raw baselines use the same "
                    f"client library ({settings.kafka_client}) and tuning without the service around it.")
    return out


def main(argv: list[str]) -> int:
    figures = tuple(argv) or FIGURES
    unknown = set(figures) - set(FIGURES)
    if unknown:
        print(f"unknown figure(s) {sorted(unknown)}: choose from {FIGURES}", file=sys.stderr)
        return 2
    result = run(progress=lambda m: print(f"[bench] {m}", file=sys.stderr, flush=True), figures=figures)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(exit_status(lambda: main(sys.argv[1:])))
