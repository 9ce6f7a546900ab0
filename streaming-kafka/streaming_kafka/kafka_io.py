"""Kafka clients with the lab's tuning, made in one place (never at import time).

Producers use `acks=all` (the broker confirms a record only once it is in the log) and retries; the
bulk producer waits `KAFKA_LINGER_MS` to fill large batches and compresses them (gzip is in the standard
library and, measured here, roughly doubles kafka-python's throughput by sending fewer bytes).

No idempotent producer: kafka-python-ng 2.2.3 has no `enable_idempotence` (it rejects the option; its record
batches carry producer id -1; dpkp/kafka-python added it in 2.1, PR #2569, which this fork predates). A retried
send may therefore write a record twice; consumers absorb that by `event_id`.
On a cluster a send rides out a leader change: the broker's session timeout (9 s) passes before the
controller elects a new leader, so a batch may wait longer and retry more often than on one broker.
"""
from __future__ import annotations

from collections.abc import Iterable

from kafka import KafkaConsumer, KafkaProducer


def producer_config(settings, bulk: bool = True) -> dict:
    cfg = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "acks": "all",
        "retries": 5,
        # Several requests in flight per broker: a retry may then reorder records of a partition, which is
        # harmless here because each order has exactly one event per topic.
        "max_in_flight_requests_per_connection": 5,
        "request_timeout_ms": 15_000,
        "max_block_ms": 15_000,
        "client_id": f"{settings.service_name}-producer",
    }
    if "," in settings.kafka_bootstrap:  # a cluster (natively or in compose): ride out a leader change:
        # retriable errors (NotLeader, NotEnoughReplicas) for ~5 s, batches wait 30 s for a leader
        cfg |= {"retries": 10, "retry_backoff_ms": 500, "request_timeout_ms": 30_000}
    if bulk:
        cfg |= {"linger_ms": settings.kafka_linger_ms, "batch_size": settings.kafka_batch_bytes,
                "buffer_memory": 256 * 1024 * 1024, "max_request_size": 8 * 1024 * 1024}
    else:  # one event per HTTP request: send at once
        cfg |= {"linger_ms": 0}
    if settings.kafka_compression != "none":
        cfg["compression_type"] = settings.kafka_compression
    return cfg


def make_producer(settings, bulk: bool = True, **overrides) -> KafkaProducer:
    return KafkaProducer(**(producer_config(settings, bulk) | overrides))


def make_consumer(settings, group: str | None, topics: Iterable[str] = (), **overrides) -> KafkaConsumer:
    cfg = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "group_id": group,
        "client_id": f"{settings.service_name}-consumer",
        "enable_auto_commit": False,  # we commit after the work is durable, never on a timer
        "auto_offset_reset": "earliest",
        "max_partition_fetch_bytes": 4 * 1024 * 1024,
        "fetch_max_bytes": 32 * 1024 * 1024,
        "session_timeout_ms": 10_000,
        "heartbeat_interval_ms": 3_000,
    }
    return KafkaConsumer(*topics, **(cfg | overrides))


def wait_sent(futures: list, timeout_s: float = 30.0) -> None:
    """Block until every future is acknowledged; raises the first delivery error."""
    for f in futures:
        f.get(timeout=timeout_s)


def client_broken(exc: BaseException) -> bool:
    """kafka-python-ng issue #180: its poll loop can unregister a socket it has just closed and raise `ValueError:
    Invalid file descriptor: -1` (seen while joining a group, more often on a loaded machine or with several
    brokers). That client is unusable; the caller replaces it with a new one."""
    return isinstance(exc, ValueError) and "file descriptor" in str(exc)
