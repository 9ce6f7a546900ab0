"""The topology: the contract's names, DLX wiring, durability, and idempotent declaration."""
from types import SimpleNamespace

import pika.exceptions
import pytest

from async_rabbitmq.lab.testing import FakeChannel
from async_rabbitmq.messaging import topology

pytestmark = pytest.mark.unit


def test_contract_names_and_dead_lettering():
    queues = {q.name: q for q in topology.QUEUES}
    exchanges = {e.name: e for e in topology.EXCHANGES}
    assert {"orders", "orders_dlx", "inventory_events"} <= set(exchanges)
    assert {"inventory_orders", "orders_dlq"} <= set(queues)
    assert queues["inventory_orders"].arguments == {"x-dead-letter-exchange": "orders_dlx"}
    assert topology.Binding("orders_dlq", "orders_dlx", "") in topology.BINDINGS
    # The original lab's architecture: `orders` is a fanout, so a publish with routing key "" (or any) is routed.
    assert exchanges["orders"].type == "fanout"
    assert topology.Binding("inventory_orders", "orders", "") in topology.BINDINGS


def test_every_binding_refers_to_declared_things():
    queues = {q.name for q in topology.QUEUES}
    exchanges = {e.name for e in topology.EXCHANGES}
    for b in topology.BINDINGS:
        assert b.queue in queues and b.exchange in exchanges
    for q in topology.QUEUES:
        dlx = q.arguments.get("x-dead-letter-exchange")
        assert dlx is None or dlx in exchanges


def test_both_event_consumers_get_every_inventory_event():
    for queue in (topology.ORDER_STATUS_QUEUE, topology.NOTIFICATIONS_QUEUE):
        b = next(b for b in topology.BINDINGS if b.queue == queue)
        assert b.exchange == "inventory_events" and b.routing_key == "inventory.*"
    assert topology.RESERVED_KEY.startswith("inventory.") and topology.FAILED_KEY.startswith("inventory.")


def test_declare_is_durable_and_idempotent():
    ch = FakeChannel()
    topology.declare(ch)
    first = list(ch.calls)
    topology.declare(ch)
    assert ch.calls[len(first):] == first  # same declarations, same arguments: RabbitMQ accepts them again
    assert all(kw["durable"] for name, kw in first if name in ("exchange_declare", "queue_declare"))
    assert len(first) == len(topology.EXCHANGES) + len(topology.QUEUES) + len(topology.BINDINGS)


class RefusingChannel(FakeChannel):
    """A broker holding `orders` from an earlier version (a direct exchange): redeclaring it as a fanout is refused
    with 406 and closes the channel, as RabbitMQ does."""

    def __init__(self):
        super().__init__()
        self.types = {"orders": "direct"}
        self.connection = SimpleNamespace(channel=self._new_channel)
        self.opened = 0

    def _new_channel(self):
        self.opened += 1
        self.is_open = True
        return self

    def exchange_declare(self, **kw):
        have = self.types.get(kw["exchange"])
        if have is not None and have != kw["exchange_type"]:
            self.is_open = False
            raise pika.exceptions.ChannelClosedByBroker(406, f"PRECONDITION_FAILED - inequivalent arg 'type' for"
                                                             f" exchange '{kw['exchange']}'")
        self.types[kw["exchange"]] = kw["exchange_type"]
        super().exchange_declare(**kw)

    def exchange_delete(self, **kw):
        self.calls.append(("exchange_delete", kw))
        self.types.pop(kw["exchange"], None)


def test_an_exchange_of_the_old_type_is_replaced_then_rebound():
    ch = RefusingChannel()
    assert topology.declare_exchanges(ch.connection) == ["orders"]
    assert ch.types["orders"] == "fanout" and ("exchange_delete", {"exchange": "orders"}) in ch.calls
    ch = RefusingChannel()
    topology.declare(ch)
    names = [(name, kw.get("queue") or kw.get("exchange")) for name, kw in ch.calls]
    # the binding of inventory_orders comes after the replacement, so the queue is bound to the new fanout
    assert names.index(("exchange_delete", "orders")) < names.index(("queue_bind", "inventory_orders"))
    assert topology.declare_exchanges(ch.connection) == []  # the second start finds it right


def test_other_channel_errors_are_not_swallowed():
    ch = FakeChannel()

    def refuse(**kw):
        raise pika.exceptions.ChannelClosedByBroker(403, "ACCESS_REFUSED")
    ch.exchange_declare = refuse
    with pytest.raises(pika.exceptions.ChannelClosedByBroker):
        topology.declare(ch)


def test_quorum_queues_keep_the_names_and_dead_letter_at_least_once():
    for q in topology.QUEUES:
        classic, quorum = topology.arguments(q, "classic"), topology.arguments(q, "quorum")
        assert classic == q.arguments and quorum["x-queue-type"] == "quorum"
        assert {k: v for k, v in quorum.items() if k in q.arguments} == q.arguments  # DLX kept
        if "x-dead-letter-exchange" in q.arguments:
            # at-least-once dead-lettering is refused by RabbitMQ 3.10 unless overflow is reject-publish
            assert quorum["x-dead-letter-strategy"] == "at-least-once" and quorum["x-overflow"] == "reject-publish"
    ch = FakeChannel()
    topology.declare(ch, "quorum")
    declared = [kw for name, kw in ch.calls if name == "queue_declare"]
    assert {kw["queue"] for kw in declared} == {q.name for q in topology.QUEUES}
    assert all(kw["arguments"]["x-queue-type"] == "quorum" for kw in declared)
