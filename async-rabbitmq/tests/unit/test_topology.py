"""The topology: the contract's names, DLX wiring, durability, and idempotent declaration."""
import pytest
from fakes import FakeChannel
from messaging import topology

pytestmark = pytest.mark.unit


def test_contract_names_and_dead_lettering():
    queues = {q.name: q for q in topology.QUEUES}
    exchanges = {e.name: e for e in topology.EXCHANGES}
    assert {"orders", "orders_dlx", "inventory_events"} <= set(exchanges)
    assert {"inventory_orders", "orders_dlq"} <= set(queues)
    assert queues["inventory_orders"].arguments == {"x-dead-letter-exchange": "orders_dlx"}
    assert topology.Binding("orders_dlq", "orders_dlx", "") in topology.BINDINGS
    assert topology.Binding("inventory_orders", "orders", "order.placed") in topology.BINDINGS


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
