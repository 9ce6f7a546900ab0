"""Part C's topology in one place: topic names, partitions, consumer groups; `ensure_topics` is idempotent.

Every process that relies on the topics calls `ensure_topics` at start, so any start order works.
Both event topics are keyed by `order_id`: all events of one order land in one partition, in order.
"""
from __future__ import annotations

import logging
import time

from streaming_kafka.kafka_io import TopicAlreadyExistsError, TopicSpec, make_admin

ORDER_TOPIC = "OrderEvents"
INVENTORY_TOPIC = "InventoryEvents"
DLQ_TOPIC = "OrderEvents.DLQ"  # poison OrderEvents, with a `dlq_reason` header
DLQ_REASON_HEADER = "dlq_reason"
EVENT_TOPICS = (ORDER_TOPIC, INVENTORY_TOPIC)

INVENTORY_GROUP = "inventory-group"
ANALYTICS_GROUP = "analytics-group"
REPLAY_GROUP_PREFIX = "analytics-group-replay-"
REDRIVE_GROUP = "inventory-redrive"  # `make redrive`: its committed offsets on the DLQ make a redrive run once

log = logging.getLogger("topology")


def admin_client(settings, request_timeout_ms: int = 10_000):
    return make_admin(settings, request_timeout_ms=request_timeout_ms)


def replication(settings) -> tuple[int, int]:
    """(replication factor, min.insync.replicas): 1 and 1 on one broker; 3 and 2 on a cluster of 3 or more, so
    an `acks=all` write is on two brokers before it is confirmed, and one broker may be down without a refusal.
    The cluster's size is the number of brokers the clients know (natively, BROKERS=3 lists all three)."""
    factor = min(3, len(settings.kafka_servers))
    return factor, 2 if factor >= 3 else 1


def topic_specs(settings) -> list[TopicSpec]:
    # The DLQ needs no parallelism: one partition keeps it in arrival order.
    factor, min_isr = replication(settings)
    configs = {"min.insync.replicas": str(min_isr)}
    return [
        TopicSpec(ORDER_TOPIC, settings.kafka_partitions, factor, configs),
        TopicSpec(INVENTORY_TOPIC, settings.kafka_partitions, factor, configs),
        # A poison record may be as large as the broker accepts; its DLQ copy adds headers: allow for them.
        TopicSpec(DLQ_TOPIC, 1, factor, {**configs, "max.message.bytes": str(2 * 1024 * 1024)}),
    ]


def ensure_topics(settings, admin=None) -> list[str]:
    """Create the missing topics; returns the names created (empty when all existed)."""
    own = admin is None
    admin = admin or admin_client(settings)
    try:
        existing = admin.list_topics()
        missing = [t for t in topic_specs(settings) if t.name not in existing]
        if missing:
            try:
                admin.create_topics(missing)
            except TopicAlreadyExistsError:  # another process created them between our two calls
                pass
            log.info("created topics", extra={"topics": [t.name for t in missing]})
        return [t.name for t in missing]
    finally:
        if own:
            admin.close()


class TopologyError(RuntimeError):
    """The topics exist but not as this part needs them; the message says what to do."""


def check_copartitioned(settings, admin=None, wait_s: float = 10.0) -> int:
    """The inventory consumer writes each result to its order's own partition number of InventoryEvents, so
    both event topics must have the same partition count. Checked at start-up: a mismatch (e.g. a topic
    created by hand) is a clear error here instead of an assertion in the middle of processing. A topic the
    broker does not describe yet (just created: LEADER_NOT_AVAILABLE, no partitions) is asked again for up
    to `wait_s` seconds; one still missing then counts as 0 partitions."""
    own = admin is None
    admin = admin or admin_client(settings)
    deadline = time.monotonic() + wait_s
    try:
        while True:
            counts = {t: len(parts) for t, parts in admin.describe_topics(list(EVENT_TOPICS)).items()}
            if set(counts) == set(EVENT_TOPICS) or time.monotonic() >= deadline:
                break
            time.sleep(0.5)
    finally:
        if own:
            admin.close()
    if len(set(counts.values())) != 1 or set(counts) != set(EVENT_TOPICS):
        shown = ", ".join(f"{t} has {counts.get(t, 0)}" for t in EVENT_TOPICS)
        raise TopologyError(
            f"{ORDER_TOPIC} and {INVENTORY_TOPIC} must have the same number of partitions ({shown}): results go "
            f"to the partition number of their order. Recreate the topics with KAFKA_PARTITIONS partitions "
            f"(natively: `make down`, then delete the broker data under .run/streaming-kafka) or add partitions "
            f"to the smaller one.")
    return next(iter(counts.values()))
