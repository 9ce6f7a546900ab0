"""`make redrive PART=async-rabbitmq` against the real broker: a dead-lettered order comes back once, poison
stays in the dead-letter queue, and a second run changes nothing."""
import json
import os
import subprocess

import pika
import pytest

from async_rabbitmq.lab.client import Client
from async_rabbitmq.messaging import topology
from async_rabbitmq.messaging.amqp import blocking_connection
from async_rabbitmq.messaging.consumer import Delivery, dead_letter
from async_rabbitmq.messaging.messages import REASON_HEADER
from common.settings import ROOT
from labkit.stack import wait_for

pytestmark = pytest.mark.integration


def make_redrive() -> str:
    out = subprocess.run(["make", "--no-print-directory", "redrive", "PART=async-rabbitmq"], cwd=ROOT,
                         env=os.environ, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def dead_letter_what_is_queued(settings, order_id: str) -> None:
    """What the consumer does once the retry budget is spent: the delivery to orders_dlx, with its reason."""
    conn = blocking_connection(settings)
    try:
        ch = conn.channel()
        ch.confirm_delivery()
        method, props, body = ch.basic_get(topology.INVENTORY_ORDERS)
        assert method is not None and json.loads(body)["order_id"] == order_id
        d = Delivery(method.delivery_tag, body, method.routing_key, False, dict(props.headers or {}), props.message_id)
        for out in (dead_letter(d, topology.ORDERS_DLX, topology.INVENTORY_ORDERS, "retries_exhausted",
                                "OperationalError: database or disk is full (after 30s of retries)"),
                    dead_letter(Delivery(0, b"{not json"), topology.ORDERS_DLX, topology.INVENTORY_ORDERS,
                                "not_json", "the body is not JSON")):
            ch.basic_publish(out.exchange, out.routing_key, out.body, out.properties(), mandatory=True)
        ch.basic_ack(method.delivery_tag)
    finally:
        conn.close()


def dlq_reasons(settings) -> list[str]:
    conn = blocking_connection(settings)
    reasons = []
    try:
        ch = conn.channel()
        while True:  # browse: everything stays unacked until the channel closes, then goes back in place
            method, props, _ = ch.basic_get(topology.ORDERS_DLQ)
            if method is None:
                return reasons
            reasons.append((props.headers or {}).get(REASON_HEADER))
    finally:
        conn.close()


def test_redrive_brings_a_dead_lettered_order_back_exactly_once(native_stack, settings):
    lab = Client(settings)
    lab.purge(topology.ORDERS_DLQ)
    native_stack.stop("inventory-service")
    try:
        status, body, _ = lab.place("coffee", 3, "s-redrive")
        assert status == 202
        order_id = body["order_id"]
        wait_for(lambda: lab.depth() == 1, 30, what="the order in inventory_orders")
        dead_letter_what_is_queued(settings, order_id)
    finally:
        native_stack.start("inventory-service")
    stock = lab.stock()["coffee"]
    assert lab.order(order_id)[1]["status"] == "pending"
    assert sorted(dlq_reasons(settings)) == ["not_json", "retries_exhausted"]

    first = make_redrive()
    assert "orders_dlq: looked at 2, re-drove 1 to inventory_orders; kept (not retryable): 1 not_json" in first
    wait_for(lambda: lab.order(order_id)[1]["status"] == "confirmed", 30, what="the redriven order confirmed")
    assert lab.stock()["coffee"] == stock - 3
    reservations = lab.reservations()["counts"]

    second = make_redrive()
    assert "orders_dlq: looked at 1, re-drove nothing; kept (not retryable): 1 not_json" in second
    lab.wait_idle()
    assert lab.stock()["coffee"] == stock - 3 and lab.reservations()["counts"] == reservations
    assert dlq_reasons(settings) == ["not_json"]  # the poison kept, once, and nothing else


def test_unroutable_redrive_is_refused_not_lost(settings):
    """A target queue that does not exist: the mandatory publish is returned, the message stays dead-lettered."""
    from async_rabbitmq.messaging.redrive import redrive_queue

    conn = blocking_connection(settings)
    try:
        ch = conn.channel()
        ch.queue_declare("test_redrive_dlq", durable=False, auto_delete=False)
        ch.queue_purge("test_redrive_dlq")
        ch.basic_publish("", "test_redrive_dlq", b"{}", pika.BasicProperties(
            headers={REASON_HEADER: "retries_exhausted", "x-original-queue": "no_such_queue"}))
        from async_rabbitmq.messaging import redrive as rd

        rd.SOURCES["test_redrive_dlq"] = ("no_such_queue",)
        redrive_channel = conn.channel()
        try:
            with pytest.raises(pika.exceptions.UnroutableError):
                redrive_queue(redrive_channel, "test_redrive_dlq")
        finally:
            del rd.SOURCES["test_redrive_dlq"]
            redrive_channel.close()  # what a crashed redrive does: the unacked message goes back
        wait_for(lambda: ch.queue_declare("test_redrive_dlq", passive=True).method.message_count == 1, 10,
                 what="the message back in its dead-letter queue")
        ch.queue_delete("test_redrive_dlq")
    finally:
        conn.close()
