"""The outbox relay: publishes order-service's outbox to the `orders` exchange with publisher confirms.

Guarantee: at-least-once publication of every accepted order. A record is
marked published only after the broker confirmed it (so it is in a durable
queue, persistent); anything unconfirmed when the connection drops or the
process dies is published again, and inventory dedupes by event_id.
Confirms are pipelined (up to OUTBOX_MAX_INFLIGHT outstanding, acked with
`multiple`), not awaited one by one. Runs in the order-service process, in its
own thread: POST /order wakes it up after each commit; a timer polls too.

Every publish is `mandatory`: when no queue is bound (a deleted binding or
queue), the broker returns the message with basic.return and then confirms it.
RabbitMQ sends the return before the ack of that delivery tag on the same
channel, so by the time the ack arrives we know which records came back. Those
are not marked published: they stay in the outbox, counted (`unroutable`, in
/health), with the broker's reason, and are retried with a jittered exponential
backoff (at once after a reconnect, which declares the topology again, or as
soon as another publish is routed).
"""
from __future__ import annotations

import time

import pika

from async_rabbitmq.messaging import topology
from async_rabbitmq.messaging.amqp import Outgoing, pop_confirmed
from async_rabbitmq.messaging.client import AsyncClient
from async_rabbitmq.order_service.store import OrderStore
from common.settings import Settings

POLL_S = 0.5
MARK_BATCH = 500  # confirmed ids recorded per transaction...
MARK_DELAY_S = 0.02  # ...or after this long, whichever comes first


class OutboxRelay(AsyncClient):
    name = "outbox-relay"
    exchange = topology.ORDERS_EXCHANGE

    def __init__(self, settings: Settings, store: OrderStore):
        super().__init__(settings)
        self.store = store
        self.max_inflight = settings.outbox_max_inflight
        self.published = 0
        self.unroutable = 0  # publishes the broker returned (no queue bound); those records stay in the outbox
        self._deferred = False  # the outbox may hold returned records waiting for their retry
        self._released = False  # they were made due since the last return: no need to do it on every confirm
        self._wake_pending = False
        self._confirmed: list[int] = []  # confirmed outbox ids not yet marked in SQLite
        self._reset()

    def _reset(self) -> None:
        self._seq = 0
        self._inflight: dict[int, tuple[int, str]] = {}  # publish seq -> (outbox id, event id)
        self._inflight_ids: set[int] = set()
        self._by_event: dict[str, int] = {}  # event id -> outbox id of what is in flight (returns carry no seq)
        self._returned: dict[int, str] = {}  # outbox id -> the broker's reason, until the ack of that publish
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
        self.store.release_deferred()  # the topology was declared again before this connection: retry now
        self._deferred, self._released = self.store.unroutable_count() > 0, True
        channel.add_on_return_callback(self._on_return)
        channel.confirm_delivery(ack_nack_callback=self._on_confirm, callback=lambda _f: self._on_ready())

    def _on_ready(self) -> None:
        self.connected.set()
        self.log.info("relay connected; outbox backlog %d", self.store.outbox_backlog())
        self._tick()

    def _tick(self) -> None:
        self._retry_due()
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
                self._publish(channel, rec)
                self._cursor = rec.id

    def _retry_due(self) -> None:
        """Publish again the returned records whose backoff is over (those in flight are left alone)."""
        channel = self.channel
        if channel is None or not channel.is_open or self.stopping or not self._deferred:
            return
        room = self.max_inflight - len(self._inflight)
        due = self.store.due_retries(time.time(), max(0, room))
        awaiting_mark = set(self._confirmed)  # confirmed, not yet recorded: already routed
        for rec in due:
            if rec.id not in self._inflight_ids and rec.id not in awaiting_mark:
                self._publish(channel, rec)
        if not due and room > 0 and not self.store.unroutable_count():
            self._deferred = False

    def _publish(self, channel, rec) -> None:
        out = Outgoing(self.exchange, rec.routing_key, rec.body, rec.event_id, "OrderPlaced")
        channel.basic_publish(out.exchange, out.routing_key, out.body, out.properties(), mandatory=True)
        self._seq += 1
        self._inflight[self._seq] = (rec.id, rec.event_id)
        self._inflight_ids.add(rec.id)
        self._by_event[rec.event_id] = rec.id

    def _on_return(self, _channel, method, properties, _body) -> None:
        """basic.return of a mandatory publish: no queue took it. Its ack follows; remember it until then."""
        outbox_id = self._by_event.get(properties.message_id or "")
        if outbox_id is None:
            self.log.warning("broker returned a message this relay has not in flight: %s", properties.message_id)
            return
        self._returned[outbox_id] = f"{method.reply_code} {method.reply_text}: exchange {method.exchange!r}" \
                                    f" routed it to no queue"

    def _on_confirm(self, frame) -> None:
        method = frame.method
        if isinstance(method, pika.spec.Basic.Nack):
            self.log.error("broker nacked an OrderPlaced publish; reconnecting to publish it again")
            self.close()
            return
        returned: list[int] = []
        routed = 0
        reason = ""
        for outbox_id, event_id in pop_confirmed(self._inflight, method):
            self._inflight_ids.discard(outbox_id)
            self._by_event.pop(event_id, None)
            if outbox_id in self._returned:
                reason = self._returned.pop(outbox_id)
                returned.append(outbox_id)
            else:
                self._confirmed.append(outbox_id)
                routed += 1
        if returned:
            self._hold(returned, reason)
        elif routed and self._deferred and not self._released:  # routing works again: no need to wait the backoff
            self._released = True
            if self.store.release_deferred():
                self.log.info("OrderPlaced routed again; retrying the held outbox records now")
            self._retry_due()
        if len(self._confirmed) >= MARK_BATCH or not self._inflight:
            self._mark()
        elif self._mark_timer is None and self._conn is not None:
            self._mark_timer = self._conn.ioloop.call_later(MARK_DELAY_S, self._mark)
        self._pump()

    def _hold(self, ids: list[int], reason: str) -> None:
        """The broker returned these records: keep them in the outbox (not published), retry later, say so."""
        self.store.mark_unroutable(ids, reason)
        self.unroutable += len(ids)
        self._deferred, self._released = True, False
        self.log.warning("%d OrderPlaced unroutable (%s); kept in the outbox and retried with backoff", len(ids),
                         reason, extra={"unroutable": len(ids), "unroutable_total": self.unroutable})

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
