"""Test doubles for pika: a channel that records what it is asked to do, confirm frames, a no-op relay."""
from __future__ import annotations

from types import SimpleNamespace

import pika


class FakeChannel:
    def __init__(self):
        self.is_open = True
        self.calls: list[tuple] = []
        self.published: list[SimpleNamespace] = []
        self.acks: list[tuple[int, bool]] = []
        self.connection = SimpleNamespace(channel=lambda: self)  # topology declares exchanges on a channel of their own
        self.returns: list = []

    def close(self):
        pass

    def exchange_declare(self, **kw):
        self.calls.append(("exchange_declare", kw))

    def queue_declare(self, **kw):
        self.calls.append(("queue_declare", kw))

    def queue_bind(self, **kw):
        self.calls.append(("queue_bind", kw))

    def add_on_return_callback(self, callback):
        self.returns.append(callback)

    def basic_publish(self, exchange, routing_key, body, properties=None, mandatory=False):
        self.published.append(SimpleNamespace(exchange=exchange, routing_key=routing_key, body=body,
                                              properties=properties, mandatory=mandatory))

    def basic_ack(self, delivery_tag, multiple=False):
        self.acks.append((delivery_tag, multiple))


def confirm(tag: int, multiple: bool = False, ack: bool = True):
    method = pika.spec.Basic.Ack(delivery_tag=tag, multiple=multiple) if ack else \
        pika.spec.Basic.Nack(delivery_tag=tag, multiple=multiple)
    return SimpleNamespace(method=method)


class NoRelay:
    """Stands in for the outbox relay in HTTP tests: counts wake-ups."""

    def __init__(self):
        self.notified = 0
        self.published = 0
        self.unroutable = 0
        self.connected = SimpleNamespace(is_set=lambda: False)

    def notify(self):
        self.notified += 1
