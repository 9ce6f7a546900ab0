"""The outbox relay: publishes order-service's outbox to the `orders` exchange with publisher confirms.

Guarantee: at-least-once publication of every accepted order. A record is
marked published only after the broker confirmed it (so it is in a durable
queue, persistent); anything unconfirmed when the connection drops or the
process dies is published again, and inventory dedupes by event_id.
Confirms are pipelined (up to OUTBOX_MAX_INFLIGHT outstanding, acked with
`multiple`), not awaited one by one. Runs in the order-service process, in its
own thread: POST /order wakes it up after each commit; a timer polls too.
"""
from __future__ import annotations

import pika
from messaging import topology
from messaging.amqp import Outgoing, pop_confirmed
from messaging.client import AsyncClient

from common.settings import Settings

from .store import OrderStore

POLL_S = 0.5
MARK_BATCH = 500  # confirmed ids recorded per transaction...
MARK_DELAY_S = 0.02  # ...or after this long, whichever comes first


class OutboxRelay(AsyncClient):
    name = "outbox-relay"

    def __init__(self, settings: Settings, store: OrderStore):
        super().__init__(settings)
        self.store = store
        self.max_inflight = settings.outbox_max_inflight
        self.published = 0
        self._wake_pending = False
        self._confirmed: list[int] = []  # confirmed outbox ids not yet marked in SQLite
        self._reset()

    def _reset(self) -> None:
        self._seq = 0
        self._inflight: dict[int, int] = {}  # publish seq -> outbox id
        self._cursor = 0  # highest outbox id handed to the broker on this connection
        self._timer = None
        self._mark_timer = None

    def notify(self) -> None:
        """A new outbox record was committed (any thread): publish it soon."""
        if not self._wake_pending and self.connected.is_set():
            self._wake_pending = True
            self.call_threadsafe(self._pump)

    # -- I/O thread ------------------------------------------------------------
    def on_channel_open(self, channel) -> None:
        self._reset()
        channel.confirm_delivery(ack_nack_callback=self._on_confirm, callback=lambda _f: self._on_ready())

    def _on_ready(self) -> None:
        self.connected.set()
        self.log.info("relay connected; outbox backlog %d", self.store.outbox_backlog())
        self._tick()

    def _tick(self) -> None:
        self._pump()
        if self._conn is not None and self.channel is not None:
            self._timer = self._conn.ioloop.call_later(POLL_S, self._tick)

    def _pump(self) -> None:
        self._wake_pending = False
        channel = self.channel
        if channel is None or not channel.is_open or self.stopping:
            return
        # Refill only once half the window is free: fewer, larger SQLite reads.
        if len(self._inflight) > self.max_inflight // 2:
            return
        while len(self._inflight) < self.max_inflight:
            records = self.store.unpublished(self._cursor, min(1000, self.max_inflight - len(self._inflight)))
            if not records:
                return
            for rec in records:
                out = Outgoing(topology.ORDERS_EXCHANGE, rec.routing_key, rec.body, rec.event_id, "OrderPlaced")
                channel.basic_publish(out.exchange, out.routing_key, out.body, out.properties())
                self._seq += 1
                self._inflight[self._seq] = rec.id
                self._cursor = rec.id

    def _on_confirm(self, frame) -> None:
        method = frame.method
        if isinstance(method, pika.spec.Basic.Nack):
            self.log.error("broker nacked an OrderPlaced publish; reconnecting to publish it again")
            self.close()
            return
        self._confirmed.extend(pop_confirmed(self._inflight, method))
        if len(self._confirmed) >= MARK_BATCH or not self._inflight:
            self._mark()
        elif self._mark_timer is None and self._conn is not None:
            self._mark_timer = self._conn.ioloop.call_later(MARK_DELAY_S, self._mark)
        self._pump()

    def _mark(self) -> None:
        """Record what the broker confirmed (batched: one transaction for many confirms)."""
        if self._mark_timer is not None and self._conn is not None:
            self._conn.ioloop.remove_timeout(self._mark_timer)
        self._mark_timer = None
        ids, self._confirmed = self._confirmed, []
        self.store.mark_published(ids)
        self.published += len(ids)

    def on_disconnected(self) -> None:
        if self._confirmed:  # confirmed before the loss: record them, or they would be sent twice
            self._mark_timer = None
            self._mark()
        self._reset()  # unconfirmed records stay unpublished: the next connection sends them again

    def on_stop(self) -> None:
        # Unconfirmed records are simply published again at the next start; nothing to wait for.
        self.close()
