"""Redrive: move dead-lettered messages back to the queue whose consumer rejected them, once the cause is fixed.

Each message is re-published (persistent, mandatory, with publisher confirms) to the queue named in its
`x-original-queue` header (set by our consumers; RabbitMQ's own `x-death` otherwise), through the default
exchange so that it reaches that consumer alone, and only then acked in the dead-letter queue: a crash
between the two leaves a copy in both, which the consumers' durable `event_id` idempotency absorbs.
Only the messages present at the start are looked at, so a message that fails again is not looped on.
By default only retryable reasons are re-driven (`retries_exhausted`, `handler_error`, or no reason: a
broker-side rejection); permanent poison (not JSON, invalid field...) stays where it is, in its place, unless
`include_all`. Running it twice therefore changes nothing the second time.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from async_rabbitmq.messaging import topology
from async_rabbitmq.messaging.amqp import Outgoing
from async_rabbitmq.messaging.messages import DETAIL_HEADER, REASON_HEADER
from common.retry import RETRYABLE_REASONS

ORIGINAL_QUEUE_HEADER = "x-original-queue"
REDRIVEN_HEADER = "x-redriven"  # how many times this message was re-driven
# Which queues each dead-letter queue collects from (a header naming any other queue is not trusted).
SOURCES = {topology.ORDERS_DLQ: (topology.INVENTORY_ORDERS,),
           topology.EVENTS_DLQ: (topology.ORDER_STATUS_QUEUE, topology.NOTIFICATIONS_QUEUE)}
_DROPPED = {REASON_HEADER, DETAIL_HEADER, ORIGINAL_QUEUE_HEADER, "x-death", "x-first-death-exchange",
            "x-first-death-queue", "x-first-death-reason", "x-last-death-exchange", "x-last-death-queue",
            "x-last-death-reason"}


@dataclass
class RedriveResult:
    queue: str
    looked_at: int = 0
    redriven: Counter = field(default_factory=Counter)  # target queue -> messages
    kept: Counter = field(default_factory=Counter)  # reason -> messages left in the dead-letter queue


def _text(value) -> str | None:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value if isinstance(value, str) else None


def target_queue(dlq: str, headers: dict) -> str | None:
    """Where a dead letter came from, if it is one of the queues this dead-letter queue collects from."""
    allowed = SOURCES.get(dlq, ())
    name = _text(headers.get(ORIGINAL_QUEUE_HEADER))
    if name is None:
        deaths = headers.get("x-death")
        if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
            name = _text(deaths[0].get("queue"))
    if name in allowed:
        return name
    return allowed[0] if name is None and len(allowed) == 1 else None


def retryable(headers: dict) -> bool:
    reason = headers.get(REASON_HEADER)
    return reason is None or _text(reason) in RETRYABLE_REASONS


def redrive_queue(channel, dlq: str, include_all: bool = False) -> RedriveResult:
    """Redrive one dead-letter queue on a blocking channel (put in confirm mode here)."""
    channel.confirm_delivery()
    result = RedriveResult(dlq)
    count = channel.queue_declare(queue=dlq, passive=True).method.message_count
    kept_tags = []
    for _ in range(count):
        method, props, body = channel.basic_get(dlq, auto_ack=False)
        if method is None:
            break
        result.looked_at += 1
        headers = dict(props.headers or {})
        target = target_queue(dlq, headers)
        if target is None or not (include_all or retryable(headers)):
            kept_tags.append(method.delivery_tag)  # stays unacked, so basic_get moves on; requeued in place below
            result.kept[_text(headers.get(REASON_HEADER)) or "unknown_source"] += 1
            continue
        fresh = {k: v for k, v in headers.items() if k not in _DROPPED}
        previous = headers.get(REDRIVEN_HEADER)
        fresh[REDRIVEN_HEADER] = (previous if isinstance(previous, int) else 0) + 1
        out = Outgoing("", target, body, props.message_id, props.type, fresh)
        # Confirmed (raises if nacked or unroutable) before the ack: never lost, at worst twice (idempotent).
        channel.basic_publish(out.exchange, out.routing_key, out.body, out.properties(), mandatory=True)
        channel.basic_ack(method.delivery_tag)
        result.redriven[target] += 1
    if kept_tags:
        channel.basic_nack(max(kept_tags), multiple=True, requeue=True)
    return result


def redrive(connection, include_all: bool = False) -> list[RedriveResult]:
    """Both of Part B's dead-letter queues, one channel each."""
    results = []
    for dlq in SOURCES:
        channel = connection.channel()
        try:
            results.append(redrive_queue(channel, dlq, include_all))
        finally:
            if channel.is_open:
                channel.close()
    return results
