"""Part C's topology in one place: topic names, partitions, consumer groups; `ensure_topics` is idempotent.

Every process that relies on the topics calls `ensure_topics` at start, so any start order works.
Both event topics are keyed by `order_id`: all events of one order land in one partition, in order.
"""
from __future__ import annotations

import logging

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

ORDER_TOPIC = "OrderEvents"
INVENTORY_TOPIC = "InventoryEvents"
DLQ_TOPIC = "OrderEvents.DLQ"  # poison OrderEvents, with a `dlq_reason` header
EVENT_TOPICS = (ORDER_TOPIC, INVENTORY_TOPIC)

INVENTORY_GROUP = "inventory-group"
ANALYTICS_GROUP = "analytics-group"
REPLAY_GROUP_PREFIX = "analytics-group-replay-"

log = logging.getLogger("topology")


def admin_client(settings, **kw) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id="lab-admin",
                            request_timeout_ms=kw.pop("request_timeout_ms", 10_000), **kw)


def replication(settings) -> tuple[int, int]:
    """(replication factor, min.insync.replicas): 1 and 1 on one broker; 3 and 2 on a cluster of 3 or more, so
    an `acks=all` write is on two brokers before it is confirmed, and one broker may be down without a refusal.
    The cluster's size is the number of brokers the clients know (natively, BROKERS=3 lists all three)."""
    factor = min(3, len(settings.kafka_bootstrap.split(",")))
    return factor, 2 if factor >= 3 else 1


def topic_specs(settings) -> list[NewTopic]:
    # The DLQ needs no parallelism: one partition keeps it in arrival order.
    factor, min_isr = replication(settings)
    configs = {"min.insync.replicas": str(min_isr)}
    return [
        NewTopic(ORDER_TOPIC, settings.kafka_partitions, factor, topic_configs=configs),
        NewTopic(INVENTORY_TOPIC, settings.kafka_partitions, factor, topic_configs=configs),
        NewTopic(DLQ_TOPIC, 1, factor, topic_configs=configs),
    ]


def ensure_topics(settings, admin: KafkaAdminClient | None = None) -> list[str]:
    """Create the missing topics; returns the names created (empty when all existed)."""
    own = admin is None
    admin = admin or admin_client(settings)
    try:
        existing = set(admin.list_topics())
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
