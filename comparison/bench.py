"""`make bench`: each part's benchmark against its native stack, one part at a time, each figure with a
baseline measured in the same run and the ratio; peak resident memory of each whole stack (brokers included).
Part C runs under both Kafka clients (kafka-python-ng, then `streaming-kafka-confluent`: KAFKA_CLIENT=confluent),
each against raw baselines of its own client, and the two are compared. Writes docs/benchmarks.json and
docs/benchmarks.md. `python -m comparison.bench [part ...]`."""
from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from common.errors import exit_status
from common.settings import ROOT, get_settings
from labkit.benchkit import ratio, run_part_measured
from labkit.evidence import commit, machine, replace_block
from labkit.runtime.spec import PARTS, package


def run_part(part: str, out: Path) -> int:
    """In a process of its own, so its peak memory is measured alone: run `<package>.bench` of the part."""
    module = importlib.import_module(f"{package(part)}.lab.bench")
    settings = get_settings()
    label = part + (" BROKERS=3" if settings.cluster_size > 1 else "") + (
        " KAFKA_CLIENT=confluent" if part == "streaming-kafka" and settings.kafka_client == "confluent" else "")
    result = module.run(progress=lambda m: print(f"[{label}] {m}", flush=True))
    out.write_text(json.dumps(result, indent=1, default=str))
    return 0


def _table(rows: list[tuple]) -> list[str]:
    out = ["| figure | ours | baseline (same run) | ratio | aim |", "|---|---|---|---|---|"]
    return out + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def _part_a(a: dict) -> list[str]:
    lat = a["latency_ms"]
    rows = [("latency p50 (ms): order chain vs single hop", lat["order_chain"]["median"],
             lat["single_hop"]["median"], lat["ratio_p50"], ""),
            ("latency p99 (ms): order chain vs single hop", lat["order_chain"]["p99"], lat["single_hop"]["p99"],
             lat["ratio_p99"], "")]
    if "three_bare_hops" in lat:
        three = lat["three_bare_hops"]
        rows += [("latency p50 (ms): order chain vs three bare hops", lat["order_chain"]["median"], three["median"],
                  lat["ratio_p50_three_hops"], "<= 1.5"),
                 ("latency p99 (ms): order chain vs three bare hops", lat["order_chain"]["p99"], three["p99"],
                  lat["ratio_p99_three_hops"], "")]
    for t in a["throughput"]:
        clients = f"{t['clients']} concurrent client{'s' if t['clients'] > 1 else ''}"
        rows.append((f"orders/s, {clients}", t["orders_per_s"], t["single_hop_per_s"], t["ratio"], ""))
    return ["## Part A: synchronous REST", "", *_table(rows), "", a.get("notes", ""), ""]


def _part_b(b: dict) -> list[str]:
    lat, pub, drain = b["latency_202_ms"], b["publish_rate"], b["drain_rate"]
    rows = [("202 latency p50 (ms) vs a bare Flask echo", lat["p50"], lat["baseline_echo_p50"], lat["ratio_p50"], ""),
            ("202 latency p99 (ms) vs a bare Flask echo", lat["p99"], lat["baseline_echo_p99"],
             ratio(lat["p99"], lat["baseline_echo_p99"]), ""),
            ("publish with confirms (msg/s): outbox relay vs raw pika publisher", pub["relay"], pub["raw_pika"],
             pub["ratio"], ">= 0.7"),
            ("drain (orders/s), one inventory consumer vs raw pika consumer that only acks", drain["inventory"],
             drain["raw_pika_ack_only"], drain["ratio"], ">= 2,000/s"),
            ("drain (orders/s) vs raw pika consumer doing the same broker work (like for like, below)",
             drain["inventory"], drain["raw_pika_publish_confirm_ack"], drain["ratio_like_for_like"], ""),
            ("drain (orders/s), other consumers stopped, vs the same raw consumer", drain["inventory_alone"],
             drain["raw_pika_publish_confirm_ack"], drain["ratio_alone_like_for_like"], ">= 0.7")]
    return ["## Part B: async RabbitMQ", "", *_table(rows), "",
            f"{b['n']:,} messages per drain and publish run, best of interleaved runs; prefetch {b['prefetch']}, "
            f"{b['consumer_batch']} messages per SQLite transaction, {b['outbox_max_inflight']} unconfirmed "
            "publishes allowed. Our consumer parses and validates each order, reserves in SQLite (one transaction "
            "per batch, durable event_id record), publishes the result with a confirm and only then acks; the raw "
            "baselines skip the parts named in their row.", "",
            *([f"The like-for-like raw consumer: {drain['like_for_like_baseline']}.", ""]
              if drain.get("like_for_like_baseline") else [])]


CLIENT_NAMES = {"kafka-python-ng": "kafka-python-ng", "kafka-python": "kafka-python-ng", "confluent": "confluent-kafka"}
# The aims of Part C's figures under each client (the ratio column's; /bulk's also an absolute rate).
KAFKA_AIMS = {"kafka-python-ng": {"bulk": ">= 0.7, >= 50,000/s", "end_to_end": "<= 1.2", "replay": ">= 0.8"},
              "confluent-kafka": {"bulk": ">= 0.7, >= 200,000/s", "end_to_end": "<= 1.5, <= 3 s", "replay": ">= 0.8"}}


def _client(c: dict) -> str:
    return CLIENT_NAMES.get((c.get("settings") or {}).get("client", "kafka-python-ng"), "kafka-python-ng")


def _e2e_baseline(e2e: dict):
    """The end-to-end baseline's seconds: raw clients doing the same broker work (older results files: raw
    produce + raw consume, which produced no results)."""
    return e2e.get("raw_pipeline_seconds", e2e.get("raw_produce_plus_consume_seconds"))


def _part_c(c: dict) -> list[str]:
    bulk, e2e, rep = c["bulk"], c["end_to_end"], c["replay"]
    client = _client(c)
    aims = KAFKA_AIMS[client]
    like = ("raw clients doing the same broker work (below)" if "raw_pipeline_seconds" in e2e
            else "raw produce + raw consume")
    rows = [(f"`/bulk` (events/s) vs raw {client} producer, same tuning", bulk["events_per_s"],
             bulk["raw_producer_events_per_s"], bulk["ratio"], aims["bulk"]),
            (f"{e2e['events']:,} events end to end to lag 0 in both groups (s) vs {like}",
             e2e["seconds_to_lag0_both_groups"], _e2e_baseline(e2e), e2e["ratio"], aims["end_to_end"]),
            (f"replay (events/s, {rep['events']:,} events) vs raw {client} consumer reading the same partitions",
             rep["events_per_s"], rep["raw_consumer_events_per_s"], rep["ratio"], aims["replay"])]
    if c.get("latency_202_ms"):  # older results files lack it
        lat = c["latency_202_ms"]
        rows = [("202 latency p50 (ms) vs a bare Flask echo", lat["p50"], lat["baseline_echo_p50"], lat["ratio_p50"], ""),
                ("202 latency p99 (ms) vs a bare Flask echo", lat["p99"], lat["baseline_echo_p99"],
                 ratio(lat["p99"], lat["baseline_echo_p99"]), ""), *rows]
    st = c["settings"]
    pipeline = ("The end-to-end baseline: the same events produced by a raw producer while a raw group reads each "
                "one, produces one result each (same key and partition, acks=all, awaited) and commits per poll "
                f"({st.get('poll_records', 500)} records, as the inventory consumer), and a second raw group reads "
                "both topics and commits (5,000 per poll, as analytics); each member in a process of its own, "
                "timed to lag 0 in both groups like the stack. " if "raw_pipeline_seconds" in e2e else "")
    return [f"## Part C: streaming Kafka, {client}", "", *_table(rows), "",
            f"Client: {client}. Producer settings: compression {st['compression']}, linger {st['linger_ms']} ms, "
            f"batch {st['batch_bytes']:,} bytes, {st['partitions']} partitions. A raw producer with the library's "
            f"defaults (no linger, no compression) managed {bulk['raw_producer_library_defaults_events_per_s']:,} "
            "events/s. " + pipeline + c.get("notes", ""), ""]


CONFLUENT = "streaming-kafka-confluent"  # Part C's benchmark again under KAFKA_CLIENT=confluent, same run
# Each variant benchmark: the part whose benchmark it runs again, and the environment that makes the difference.
VARIANTS = {CONFLUENT: ("streaming-kafka", {"KAFKA_CLIENT": "confluent"})}
CLIENT_FIGURES = [("`POST /order` 202 latency p50 (ms)", "latency_202_ms", "p50"),
                  ("`/bulk` (events/s)", "bulk", "events_per_s"),
                  ("raw producer, acks=all (events/s)", "bulk", "raw_producer_events_per_s"),
                  ("end to end to lag 0 in both groups (s)", "end_to_end", "seconds_to_lag0_both_groups"),
                  ("raw clients doing the same broker work (s)", "end_to_end", "raw_pipeline_seconds"),
                  ("replay (events/s)", "replay", "events_per_s"),
                  ("raw consumer reading the same partitions (events/s)", "replay", "raw_consumer_events_per_s")]


def _clients(ng: dict, cf: dict, memory: dict) -> list[str]:
    """Part C under confluent-kafka against the same benchmark under kafka-python-ng, figure by figure."""
    def cell(d, key, sub):
        return (d.get(key) or {}).get(sub, "")

    def rel(a, b):
        return ratio(a, b) if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else ""

    rows = [(label, cell(ng, key, sub), cell(cf, key, sub), rel(cell(cf, key, sub), cell(ng, key, sub)))
            for label, key, sub in CLIENT_FIGURES]
    rows += [("peak memory of the whole stack (MiB)", memory.get("streaming-kafka", ""), memory.get(CONFLUENT, ""),
              rel(memory.get(CONFLUENT), memory.get("streaming-kafka"))),
             ("CPU time of the whole stack during its benchmark (s)", ng.get("stack_cpu_seconds", ""),
              cf.get("stack_cpu_seconds", ""), rel(cf.get("stack_cpu_seconds"), ng.get("stack_cpu_seconds")))]
    return ["## Part C: confluent-kafka vs kafka-python-ng", "",
            "| figure | kafka-python-ng | confluent-kafka | ratio (confluent / kafka-python-ng) |", "|---|---|---|---|",
            *["| " + " | ".join(str(c) for c in r) + " |" for r in rows], "",
            "The same benchmark, run twice in the same `make bench` on one broker: under the default client, then "
            "with `KAFKA_CLIENT=confluent` (each with its own raw baselines, above). Each client's compression is "
            f"its default: {ng.get('settings', {}).get('compression', '?')} and "
            f"{cf.get('settings', {}).get('compression', '?')}.", ""]


CLUSTER = "async-rabbitmq-cluster"  # Part B's benchmark again on BROKERS=3 (quorum queues): the cluster's cost
KAFKA_CLUSTER = "streaming-kafka-cluster"  # Part C's benchmark again on BROKERS=3 (replication 3, min ISR 2)
# Each cluster benchmark: the part whose benchmark it runs again, on three brokers.
CLUSTERS = {CLUSTER: "async-rabbitmq", KAFKA_CLUSTER: "streaming-kafka"}
# The figures each cluster table compares (label, key, sub-key); every figure's ratio is cluster / single.
CLUSTER_FIGURES = {
    CLUSTER: [("202 latency p50 (ms)", "latency_202_ms", "p50"),
              ("202 latency p99 (ms)", "latency_202_ms", "p99"),
              ("publish with confirms, outbox relay (msg/s)", "publish_rate", "relay"),
              ("publish with confirms, raw pika (msg/s)", "publish_rate", "raw_pika"),
              ("drain, one inventory consumer (orders/s)", "drain_rate", "inventory"),
              ("drain, raw pika consumer that only acks (msg/s)", "drain_rate", "raw_pika_ack_only")],
    KAFKA_CLUSTER: [("`POST /order` 202 latency p50 (ms)", "latency_202_ms", "p50"),
                    ("`POST /order` 202 latency p99 (ms)", "latency_202_ms", "p99"),
                    ("`/bulk` (events/s)", "bulk", "events_per_s"),
                    ("raw kafka-python-ng producer, acks=all (events/s)", "bulk", "raw_producer_events_per_s"),
                    ("end to end to lag 0 in both groups (s)", "end_to_end", "seconds_to_lag0_both_groups"),
                    ("replay (events/s)", "replay", "events_per_s"),
                    ("raw consumer reading the same partitions (events/s)", "replay", "raw_consumer_events_per_s")],
}
CLUSTER_TEXT = {
    CLUSTER: ("## Part B: three-node cluster (quorum queues) vs one node (classic queues)",
              "where every publish is confirmed only once two of the three nodes have written it (Raft majority)"),
    KAFKA_CLUSTER: ("## Part C: three-broker KRaft cluster vs one broker",
                    "where every topic has replication factor 3 and min.insync.replicas=2, so an acks=all write is "
                    "confirmed only once every in-sync replica has it (at least two brokers)"),
}
MEMORY_LIMIT_MIB = 3 * 1024  # a cluster stack must stay under 3 GiB RSS on this 2-core machine


def _cluster(single: dict, cluster: dict, memory: dict, name: str = CLUSTER) -> list[str]:
    """The cluster `name` against its single node, figure by figure (the single-node run is the baseline)."""
    part = CLUSTERS[name]

    def cell(d, key, sub):
        return (d.get(key) or {}).get(sub, "")

    def rel(a, b):
        return ratio(a, b) if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else ""

    rows = [(label, cell(single, key, sub), cell(cluster, key, sub),
             rel(cell(cluster, key, sub), cell(single, key, sub))) for label, key, sub in CLUSTER_FIGURES[name]]
    cpu_one, cpu_three = single.get("stack_cpu_seconds"), cluster.get("stack_cpu_seconds")
    rows += [("peak memory of the whole stack (MiB)", memory.get(part, ""), memory.get(name, ""),
              rel(memory.get(name), memory.get(part))),
             ("CPU time of the whole stack during its benchmark (s)", cpu_one if cpu_one is not None else "",
              cpu_three if cpu_three is not None else "", rel(cpu_three, cpu_one))]
    peak = memory.get(name)
    measured = (f" This run measured {peak:,} MiB for the cluster stack: "
                f"{'under' if peak < MEMORY_LIMIT_MIB else 'OVER'} the limit.") if isinstance(peak, (int, float)) else ""
    title, how = CLUSTER_TEXT[name]
    if isinstance((single.get("end_to_end") or {}).get("events"), int):
        measured += f" Each `/bulk` run sends {single['end_to_end']['events']:,} events."
    if isinstance((single.get("replay") or {}).get("events"), int) and (cluster.get("replay") or {}).get("events"):
        measured += (f" Replay re-reads each stack's whole history: {single['replay']['events']:,} events on one "
                     f"broker, {cluster['replay']['events']:,} on the cluster (its own data).")
    return [title, "",
            "| figure | one node | cluster | ratio (cluster / one node) |", "|---|---|---|---|",
            *["| " + " | ".join(str(c) for c in r) + " |" for r in rows], "",
            "The same benchmark, run twice in the same `make bench`: on the single node, then on "
            f"`BROKERS=3`, {how}, and all three nodes run on the same 2 cores. Peak memory (summed RSS of the "
            f"whole stack, brokers included) must stay under 3 GiB.{measured}", ""]


def markdown(results: dict, memory: dict, started: str, commit_id: str) -> str:
    lines = ["# Benchmarks", "",
             f"Generated by `make bench` on {started}, commit {commit_id}, {machine()}. "
             "Every figure comes with a baseline measured in the same run on the same machine, and the ratio "
             "between them (ours / baseline; for latencies and durations a higher ratio means slower). "
             "Raw data: [benchmarks.json](benchmarks.json).", ""]
    for part, render in (("sync-rest", _part_a), ("async-rabbitmq", _part_b), ("streaming-kafka", _part_c),
                         (CONFLUENT, _part_c)):
        if results.get(part):
            lines += render(results[part])
    if results.get("streaming-kafka") and results.get(CONFLUENT):
        lines += _clients(results["streaming-kafka"], results[CONFLUENT], memory)
    for name, part in CLUSTERS.items():
        if results.get(part) and results.get(name):
            lines += _cluster(results[part], results[name], memory, name)
    lines += ["## Memory", "", "| part | peak resident memory of the whole native stack (MiB) |", "|---|---|"]
    lines += [f"| {p} | {m} |" for p, m in memory.items()]
    lines += ["", "Peak of the summed RSS of the part's supervisord and every process it started (brokers "
              "included), sampled every 250 ms during the part's benchmark."]
    return "\n".join(lines) + "\n"


def readme_block(results: dict, memory: dict, started: str) -> str:
    """The headline figures for the README's results section, rendered from the same data as benchmarks.md."""
    rows = []
    a, b = results.get("sync-rest"), results.get("async-rabbitmq")
    if a:
        lat = a["latency_ms"]
        rows.append(("A: order chain latency p50", f"{lat['order_chain']['median']} ms",
                     f"single Flask hop {lat['single_hop']['median']} ms", lat["ratio_p50"]))
        if "three_bare_hops" in lat:
            rows.append(("A: order chain latency p50", f"{lat['order_chain']['median']} ms",
                         f"three bare Flask hops {lat['three_bare_hops']['median']} ms", lat["ratio_p50_three_hops"]))
        top = max(a["throughput"], key=lambda t: t["orders_per_s"])
        rows.append((f"A: orders/s, {top['clients']} clients", top["orders_per_s"],
                     f"single Flask hop {top['single_hop_per_s']}", top["ratio"]))
    if b:
        rows += [("B: 202 latency p50", f"{b['latency_202_ms']['p50']} ms",
                  f"Flask echo {b['latency_202_ms']['baseline_echo_p50']} ms", b["latency_202_ms"]["ratio_p50"]),
                 ("B: publish with confirms, msg/s", b["publish_rate"]["relay"],
                  f"raw pika {b['publish_rate']['raw_pika']}", b["publish_rate"]["ratio"]),
                 ("B: drain, inventory consumer beside the stack's others, orders/s", b["drain_rate"]["inventory"],
                  f"raw pika publish+confirm+ack {b['drain_rate']['raw_pika_publish_confirm_ack']}",
                  b["drain_rate"]["ratio_like_for_like"])]
        if "inventory_alone" in b["drain_rate"]:
            rows.append(("B: drain, inventory consumer alone, orders/s", b["drain_rate"]["inventory_alone"],
                         f"the same raw consumer {b['drain_rate']['raw_pika_publish_confirm_ack']}",
                         b["drain_rate"]["ratio_alone_like_for_like"]))
    for c in (results.get("streaming-kafka"), results.get(CONFLUENT)):
        if c:
            name = _client(c)
            rows += [(f"C ({name}): `/bulk` events/s", c["bulk"]["events_per_s"],
                      f"raw producer {c['bulk']['raw_producer_events_per_s']}", c["bulk"]["ratio"]),
                     (f"C ({name}): {c['end_to_end']['events']:,} events to lag 0, s",
                      c["end_to_end"]["seconds_to_lag0_both_groups"],
                      ("raw clients, same broker work " if "raw_pipeline_seconds" in c["end_to_end"]
                       else "raw produce+consume ") + str(_e2e_baseline(c["end_to_end"])), c["end_to_end"]["ratio"]),
                     (f"C ({name}): replay events/s", c["replay"]["events_per_s"],
                      f"raw consumer {c['replay']['raw_consumer_events_per_s']}", c["replay"]["ratio"])]
    lines = [f"From the last `make bench` ({started}, [docs/benchmarks.md](docs/benchmarks.md)):", "",
             "| figure | ours | baseline, same run | ratio |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(str(x) for x in row) + " |" for row in rows]
    if memory:
        lines += ["", "Peak memory of each whole native stack: "
                  + ", ".join(f"{p} {m} MiB" for p, m in memory.items()) + "."]
    return "\n".join(lines)


def main() -> int:
    if sys.argv[1:2] == ["--one"]:  # internal: one part, in its own process
        return run_part(sys.argv[2], Path(sys.argv[3]))
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    out = ROOT / ".run" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    results, memory = {}, {}
    # Part C's live analytics writes its metrics file while benchmarked: keep it off the committed evidence.
    os.environ.setdefault("METRICS_DIR", str(out / "metrics"))
    # `python -m comparison.bench sync-rest` benchmarks one part; a cluster's table needs its single part too
    # (`python -m comparison.bench streaming-kafka streaming-kafka-cluster`).
    known = [*PARTS, *VARIANTS, *CLUSTERS]
    parts = sys.argv[1:] or known
    unknown = [p for p in parts if p not in known]
    if unknown:
        print(f"unknown part(s) {unknown}: choose from {known}", file=sys.stderr)
        return 2
    for part in parts:
        print(f"\n== {part}: benchmark ==", flush=True)
        result_file = out / f"{part}.json"
        real, env = ((CLUSTERS[part], {"BROKERS": "3"}) if part in CLUSTERS else VARIANTS[part] if part in VARIANTS
                     else (part, None))
        try:
            results[part], memory[part] = run_part_measured(
                real, [sys.executable, "-m", "comparison.bench", "--one", real, str(result_file)], result_file, env=env)
        except subprocess.CalledProcessError as exc:
            print(f"benchmark of {part} failed (exit {exc.returncode})", file=sys.stderr)
            return exc.returncode
    docs = ROOT / "docs"
    commit_id = commit()
    (docs / "benchmarks.json").write_text(json.dumps({"generated": started, "machine": machine(), "commit": commit_id,
                                                      "results": results, "peak_memory_mib": memory}, indent=1))
    (docs / "benchmarks.md").write_text(markdown(results, memory, started, commit_id))
    if set(PARTS) <= set(results):  # a partial run leaves the README's figures alone
        replace_block(ROOT / "README.md", "bench", readme_block(results, memory, started))
    print(f"wrote {docs / 'benchmarks.json'} and {docs / 'benchmarks.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(exit_status(main))
