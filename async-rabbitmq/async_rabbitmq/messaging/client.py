"""A long-lived asynchronous AMQP client: one `SelectConnection` in its own thread, reconnecting with backoff.

Subclasses (the batch consumer, the outbox relay) react to a channel being open
and to the connection being lost. The client declares the topology before each
connection, so a wiped broker is rebuilt. `stop()` may be called from any
thread (e.g. the SIGTERM handler's): the subclass finishes what it has in hand,
then the connection closes and `run()` returns.
"""
from __future__ import annotations

import logging
import threading
import time

import pika
import pika.channel
import pika.exceptions

from async_rabbitmq.messaging.amqp import declare_topology, resolved_parameters
from async_rabbitmq.messaging.nodes import NodeOrder, nodes
from common.settings import Settings


class AsyncClient:
    name = "amqp-client"

    def __init__(self, settings: Settings):
        self.settings = settings
        self.log = logging.getLogger(self.name)
        self._stopping = threading.Event()
        self._conn: pika.SelectConnection | None = None
        self.channel: pika.channel.Channel | None = None
        self.connected = threading.Event()
        self.generation = 0  # bumped on every connection: delivery tags of an older one are meaningless
        self.reconnects = 0
        self._nodes = nodes(settings)
        self._order = NodeOrder(len(self._nodes))  # which node the next connection tries first

    # -- the loop (runs in the client's thread) ------------------------------
    def run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            picked = self._declare_on_a_node()
            if isinstance(picked, str):
                failures += 1
                self._backoff(failures, picked)
                continue
            node, params = picked
            self.generation += 1
            self._conn = pika.SelectConnection(
                params, on_open_callback=self._on_open,
                on_open_error_callback=self._on_open_error, on_close_callback=self._on_closed)
            self._conn.ioloop.start()  # returns once the connection is closed
            was_connected = self.connected.is_set()
            self.connected.clear()
            self.channel = None
            self.on_disconnected()
            # A lost or refused connection: the next attempt goes to the next node, this one last for a while.
            self._order.failed(node, time.monotonic())
            if was_connected:
                failures = 0
                self.reconnects += 1
            elif not self._stopping.is_set():
                failures += 1
                self._backoff(failures, "could not open a connection")
        self.log.info("%s stopped", self.name)

    def _declare_on_a_node(self) -> tuple[int, pika.ConnectionParameters] | str:
        """Declare the topology on the first node of `NodeOrder` that takes it: (its index, its parameters), or
        why none did. Each node gets one bounded attempt (resolve, connect, handshake)."""
        why = []
        for index in self._order.order(time.monotonic()):
            node = self._nodes[index]
            try:
                params = resolved_parameters(self.settings, node)
                declare_topology(self.settings, params)
            except (pika.exceptions.AMQPError, OSError) as exc:
                self._order.failed(index, time.monotonic())
                why.append(f"{node.nodename}: {type(exc).__name__} {exc}".strip())
                continue
            self._order.succeeded(index)
            return index, params
        return "; ".join(why)

    def _backoff(self, failures: int, why) -> None:
        delay = min(self.settings.reconnect_max_s, 0.2 * 2 ** min(failures - 1, 10))
        self.log.warning("broker unavailable (%s); retrying in %.1fs", why, delay,
                         extra={"attempt": failures, "retry_in_s": delay})
        self._stopping.wait(delay)

    def stop(self) -> None:
        """Ask the client to finish and disconnect (thread-safe)."""
        self._stopping.set()
        self.call_threadsafe(self.on_stop)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def call_threadsafe(self, fn) -> bool:
        conn = self._conn
        if conn is None:
            return False
        try:
            conn.ioloop.add_callback_threadsafe(fn)
            return True
        except (RuntimeError, OSError, AttributeError):  # ioloop already closed: nothing in hand any more
            return False

    # -- connection callbacks (I/O thread) -----------------------------------
    def _on_open(self, conn) -> None:
        conn.channel(on_open_callback=self._on_channel_open)

    def _on_open_error(self, conn, exc) -> None:
        self.log.warning("connection failed: %s", exc)
        conn.ioloop.stop()

    def _on_closed(self, conn, reason) -> None:
        if not self._stopping.is_set():
            self.log.warning("connection lost: %s", reason)
        conn.ioloop.stop()

    def _on_channel_open(self, channel) -> None:
        self.channel = channel
        channel.add_on_close_callback(self._on_channel_closed)
        channel.add_on_cancel_callback(self._on_cancelled)
        if self._stopping.is_set():
            self.close()
            return
        self.on_channel_open(channel)

    def _on_cancelled(self, frame) -> None:
        # The broker cancelled our consumer: on a cluster, the node holding a classic queue went down. Reconnect;
        # the topology declare then fails (backing off) until the queue is reachable again, and we consume anew.
        self.log.warning("consumer cancelled by the broker (%s); reconnecting", frame.method.consumer_tag)
        self.close()

    def _on_channel_closed(self, channel, reason) -> None:
        if not self._stopping.is_set():
            self.log.warning("channel closed: %s", reason)
        self.close()

    def close(self) -> None:
        conn = self._conn
        if conn is not None and not (conn.is_closing or conn.is_closed):
            conn.close()

    # -- for subclasses --------------------------------------------------------
    def on_channel_open(self, channel) -> None:
        self.connected.set()

    def on_disconnected(self) -> None:
        """Forget everything tied to the lost connection (unacked deliveries come back, unconfirmed publishes are redone)."""

    def on_stop(self) -> None:
        self.close()
