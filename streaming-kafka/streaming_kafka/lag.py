"""Consumer lag per group and partition, like `kafka-consumer-groups.sh --describe`, through the admin API.

CURRENT-OFFSET is the group's committed offset, LOG-END-OFFSET the partition's end, LAG the difference.
It only needs the bootstrap address, so it works the same against the native broker and in Docker.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from streaming_kafka.kafka_io import TopicPartition, make_reader
from streaming_kafka.topology import EVENT_TOPICS, admin_client


@dataclass(frozen=True)
class LagRow:
    group: str
    topic: str
    partition: int
    current_offset: int | None  # None: the group has committed nothing for this partition yet
    log_end_offset: int
    lag: int
    consumer_id: str = "-"
    host: str = "-"
    client_id: str = "-"

    def as_dict(self) -> dict:
        return asdict(self)


def consumer_lag(settings, group: str, topics: tuple[str, ...] | None = None) -> list[LagRow]:
    """One row per partition of the group's topics (all event topics it has committed to, or `topics`)."""
    admin = admin_client(settings)
    ends_reader = make_reader(settings, client_id="lab-lag")
    try:
        committed = admin.committed_offsets(group)
        wanted = topics or tuple(sorted({tp.topic for tp in committed})) or EVENT_TOPICS
        tps = [TopicPartition(t, p) for t in wanted for p in sorted(ends_reader.partitions_for_topic(t) or ())]
        ends = ends_reader.end_offsets(tps) if tps else {}
        owners = admin.group_members(group)
        rows = []
        for tp in tps:
            offset = committed.get(tp)
            current = offset if offset is not None and offset >= 0 else None
            end = ends[tp]
            cid, host, client = owners.get((tp.topic, tp.partition), ("-", "-", "-"))
            rows.append(LagRow(group, tp.topic, tp.partition, current, end, end - (current or 0), cid, host, client))
        return rows
    finally:
        ends_reader.close()
        admin.close()


def total_lag(rows: list[LagRow]) -> int:
    return sum(r.lag for r in rows)


def format_table(rows: list[LagRow]) -> str:
    header = ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST",
              "CLIENT-ID"]
    table = [header] + [[r.group, r.topic, str(r.partition), "-" if r.current_offset is None else str(r.current_offset),
                         str(r.log_end_offset), str(r.lag), r.consumer_id, r.host, r.client_id] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table)
