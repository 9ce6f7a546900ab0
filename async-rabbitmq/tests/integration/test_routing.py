"""Routing against the real broker: `orders` is a fanout (routing key "" reaches inventory_orders), an `orders`
exchange of the old type is replaced at start-up, and an unroutable OrderPlaced stays in the outbox, visible,
until the topology is back."""

import pytest
import requests

from async_rabbitmq.lab.client import Client
from async_rabbitmq.messaging import topology
from async_rabbitmq.messaging.amqp import blocking_connection, declare_topology
from async_rabbitmq.messaging.messages import OrderPlaced
from labkit.stack import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def lab(native_stack, settings):
    lab = Client(settings)
    yield lab
    declare_topology(settings)  # whatever a test broke, the contract's topology is back for the next one


def exchange_type(lab: Client, name: str) -> str:
    r = requests.get(f"{lab.mgmt_url}/exchanges/%2F/{name}", auth=lab.auth, timeout=5)
    r.raise_for_status()
    return r.json()["type"]


def publish_with_empty_key_reaches_inventory(lab: Client, quantity: int) -> None:
    """What the original lab's clients do: publish to `orders` with routing key "", and inventory reserves it."""
    before = lab.stock()["fries"]
    lab.publish_raw([OrderPlaced.new(order_id="ORD-fanout-test", student_id="s",
                                     item="fries", quantity=quantity).to_bytes()], routing_key="")
    wait_for(lambda: lab.stock()["fries"] == before - quantity, 30, what="inventory to reserve the fanout publish")


def test_a_publish_to_orders_with_routing_key_empty_reaches_inventory_orders(lab):
    assert exchange_type(lab, topology.ORDERS_EXCHANGE) == "fanout"
    publish_with_empty_key_reaches_inventory(lab, 2)


def test_an_orders_exchange_of_the_old_direct_type_is_replaced_and_rebound(lab, settings):
    conn = blocking_connection(settings)
    try:  # the broker data of the previous version: `orders` direct, bound with the old key
        ch = conn.channel()
        ch.exchange_delete(topology.ORDERS_EXCHANGE)
        ch.exchange_declare(topology.ORDERS_EXCHANGE, "direct", durable=True)
        ch.queue_bind(topology.INVENTORY_ORDERS, topology.ORDERS_EXCHANGE, "order.placed")
    finally:
        conn.close()
    assert exchange_type(lab, topology.ORDERS_EXCHANGE) == "direct"
    declare_topology(settings)  # what every service does on (re)connect: must not wedge on 406
    assert exchange_type(lab, topology.ORDERS_EXCHANGE) == "fanout"
    publish_with_empty_key_reaches_inventory(lab, 1)


def test_an_unroutable_order_stays_in_the_outbox_visible_then_is_published(lab, settings):
    conn = blocking_connection(settings)
    try:  # the binding is gone: the broker would confirm and drop a non-mandatory publish
        conn.channel().queue_unbind(topology.INVENTORY_ORDERS, topology.ORDERS_EXCHANGE, "")
    finally:
        conn.close()
    status, body, _ = lab.place("coffee", 1)
    assert status == 202
    oid = body["order_id"]

    def held():
        doc = lab.order(oid)[1]
        return doc if doc["publish"]["state"] == "unroutable" else None
    doc = wait_for(held, 30, what="the relay to see the publish returned")
    assert doc["status"] == "pending" and "NO_ROUTE" in doc["publish"]["last_error"]
    health = lab.health(settings.order_url)
    assert health["outbox_unroutable"] >= 1 and health["unroutable"] >= 1 and health["outbox_backlog"] >= 1
    assert lab.depth(topology.INVENTORY_ORDERS) == 0

    declare_topology(settings)  # the topology is restored: the next retry is routed and confirmed
    final = wait_for(lambda: (d := lab.order(oid)[1])["status"] != "pending" and d, 90,
                     what="the held order to be published and processed")
    assert final["status"] == "confirmed" and final["publish"]["state"] == "published"
    assert final["publish"]["attempts"] >= 1
    assert lab.health(settings.order_url)["outbox_unroutable"] == 0


def test_a_result_no_queue_takes_is_not_lost_its_input_is_redone(lab, settings):
    """inventory's result is published `mandatory`: with both result queues unbound, the broker returns it; the
    OrderPlaced is not acked (it goes back to inventory_orders), and once the topology is declared again (the
    consumer's reconnect does it) it is redone and its result reaches order-service and notification-service."""
    def all_connected():  # each client declares the topology as it connects: none may do so after the unbind
        order, inventory = lab.health(settings.order_url), lab.health(settings.inventory_url)
        return order["broker_connected"] and order["status_consuming"] and inventory["consuming"] and \
            lab.health(settings.notification_url)["consuming"]
    wait_for(all_connected, 60, what="every Part B client connected")
    conn = blocking_connection(settings)
    try:
        ch = conn.channel()
        for queue in (topology.ORDER_STATUS_QUEUE, topology.NOTIFICATIONS_QUEUE):
            ch.queue_unbind(queue, topology.INVENTORY_EVENTS, "inventory.*")
    finally:
        conn.close()
    returned_before = lab.health(settings.inventory_url).get("unroutable", 0)
    dead_before = [lab.depth(q) for q in (topology.ORDERS_DLQ, topology.EVENTS_DLQ)]
    status, body, _ = lab.place("salad", 1)
    assert status == 202
    oid = body["order_id"]
    final = wait_for(lambda: (d := lab.order(oid)[1])["status"] != "pending" and d, 60,
                     what="the order's result to reach order-service although its first publish was returned")
    assert final["status"] == "confirmed"
    assert lab.health(settings.inventory_url).get("unroutable", 0) > returned_before  # it was returned, and redone
    assert lab.depth(topology.INVENTORY_ORDERS) == 0  # acked once its result was routed, not before
    assert [lab.depth(q) for q in (topology.ORDERS_DLQ, topology.EVENTS_DLQ)] == dead_before  # not dead-lettered
