"""The batch consumer every Part B consumer runs: prefetch, hand batches to a handler, publish its results with
confirms, ack only when the work is durable and its results are confirmed.

Threads: the I/O thread (pika's SelectConnection) receives deliveries and
publishes; one worker thread runs the handler (SQLite, the injected delay), so
slow work never stalls heartbeats. Per delivery the order is fixed:

  handler commits its effect (e.g. the reservation)  ->  its outgoing messages
  are published and confirmed by the broker  ->  the delivery is acked
  (`multiple=True` up to the highest contiguous finished tag).

A crash anywhere before the ack means a redelivery, never a loss; the handlers
make redelivery harmless (durable idempotency), so the effect is exactly once.
Every publish is `mandatory`: a result or dead letter no queue takes (a deleted
queue or binding) comes back as basic.return, which RabbitMQ sends before the
confirm of that publish. A confirm that follows a return acks nothing: the
connection is closed instead (as after a nack), so the inputs in hand go back to
their queue, and the next connection declares the topology again before they are
redone (each reconnect after a return waits a little longer, so a route that
stays missing is retried with backoff, not in a loop). Without `mandatory` the
broker would confirm the publish, the input would be acked, and the message would
exist nowhere.
Handler failures go through `common.retry.run_isolated`: transient errors are
retried with jittered backoff for CONSUMER_RETRY_BUDGET_S, then dead-lettered
(`retries_exhausted`); any other error splits the batch so only the delivery
that fails alone is dead-lettered (`handler_error`). Both carry the reason in a
header; `make redrive` brings them back.
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

import pika

from async_rabbitmq.messaging.amqp import Outgoing, pop_confirmed
from async_rabbitmq.messaging.client import AsyncClient
from async_rabbitmq.messaging.messages import DETAIL_HEADER, REASON_HEADER
from common.metrics import DEAD_LETTERS, MESSAGES_CONSUMED
from common.retry import Failed, RetryPolicy, is_transient, run_isolated
from common.settings import Settings


@dataclass(frozen=True)
class Delivery:
    tag: int
    body: bytes
    routing_key: str = ""
    redelivered: bool = False
    headers: dict = field(default_factory=dict, hash=False)
    message_id: str | None = None


@dataclass(frozen=True)
class Result:
    """What to publish (confirmed) before acking one delivery."""

    tag: int
    outgoing: Sequence[Outgoing] = ()


Handler = Callable[[list[Delivery]], list[Result]]


def dead_letter(delivery: Delivery, exchange: str, queue_name: str, reason: str, detail: str) -> Outgoing:
    """The delivery as it came, re-published to the dead-letter exchange with why it was rejected."""
    DEAD_LETTERS.labels(queue_name, reason).inc()
    headers = {**delivery.headers, REASON_HEADER: reason, DETAIL_HEADER: detail[:1000], "x-original-queue": queue_name}
    return Outgoing(exchange, delivery.routing_key or queue_name, delivery.body, delivery.message_id, None, headers)


class BatchConsumer(AsyncClient):
    def __init__(self, settings: Settings, queue_name: str, handler: Handler, dead_letter_exchange: str,
                 batch_size: int | None = None, prefetch: int | None = None, name: str = "consumer"):
        self.name = name
        super().__init__(settings)
        self.queue_name = queue_name
        self.handler = handler
        self.dlx = dead_letter_exchange
        self.batch_size = batch_size or settings.consumer_batch
        self.prefetch = prefetch or settings.rabbitmq_prefetch
        self.policy = RetryPolicy.from_settings(settings)
        self.consuming = threading.Event()
        self.processed = 0
        self.dead_lettered = 0
        self.unroutable = 0  # publishes the broker returned (no queue bound): their inputs were not acked
        self._return_streak = 0  # connections in a row closed because of a return (the backoff before the next)
        self._work: queue.Queue = queue.Queue()
        self._busy = threading.Event()
        # Result batches handed to the I/O thread and not yet published, per connection generation (those of a
        # lost connection never run, and must not keep a shutdown waiting).
        self._results_pending: dict[int, int] = {}
        self._lock = threading.Lock()
        self._worker = threading.Thread(target=self._work_loop, name=f"{name}-worker", daemon=True)
        self._reset_io_state()

    def _reset_io_state(self) -> None:
        self._consumer_tag = None
        self._seq = 0  # publish sequence number on this channel (confirm mode starts at 1)
        self._inflight: dict[int, int] = {}  # publish seq -> delivery tag
        self._waiting: dict[int, int] = {}  # delivery tag -> unconfirmed publishes
        self._finished: set[int] = set()
        self._acked_upto = 0
        self._closing_at: float | None = None
        self._returned: str | None = None  # why the broker returned a publish of this channel, if it did

    def run(self) -> None:
        self._worker.start()
        try:
            super().run()
        finally:
            self._work.put(None)
            self._worker.join(timeout=10)

    # -- I/O thread ----------------------------------------------------------------
    def on_channel_open(self, channel) -> None:
        self._reset_io_state()
        channel.add_on_return_callback(self._on_return)
        channel.confirm_delivery(ack_nack_callback=self._on_confirm)
        channel.basic_qos(prefetch_count=self.prefetch, callback=lambda _frame: self._consume(channel))

    def _consume(self, channel) -> None:
        self._consumer_tag = channel.basic_consume(self.queue_name, self._on_message, auto_ack=False,
                                                   callback=lambda _f: self._on_consuming())

    def _on_consuming(self) -> None:
        self.connected.set()
        self.consuming.set()
        self.log.info("consuming %s (prefetch %d, batch %d)", self.queue_name, self.prefetch, self.batch_size)

    def _on_message(self, _channel, method, props, body) -> None:
        self._work.put((self.generation, Delivery(
            method.delivery_tag, body, method.routing_key, method.redelivered, dict(props.headers or {}),
            props.message_id)))

    def _on_results(self, generation: int, results: list[Result]) -> None:
        self._count_pending(generation, -1)
        if generation != self.generation or self.channel is None or not self.channel.is_open:
            return  # the connection they belong to is gone: the broker redelivers them
        for res in results:
            if not res.outgoing:
                self._finish(res.tag)
                continue
            self._waiting[res.tag] = len(res.outgoing)
            for out in res.outgoing:
                self.channel.basic_publish(out.exchange, out.routing_key, out.body, out.properties(), mandatory=True)
                self._seq += 1
                self._inflight[self._seq] = res.tag
        self._ack_finished()

    def _on_return(self, _channel, method, _properties, _body) -> None:
        """basic.return of a mandatory publish: no queue took it. Its confirm follows; it must ack nothing."""
        self.unroutable += 1
        if self._returned is None:
            self._returned = (f"{method.reply_code} {method.reply_text}: exchange {method.exchange!r}, "
                              f"routing key {method.routing_key!r}")

    def _on_confirm(self, frame) -> None:
        method = frame.method
        if isinstance(method, pika.spec.Basic.Nack):
            # The broker could not take a result: drop the connection; unacked inputs come back and are redone.
            self.log.error("broker nacked a publish; reconnecting so the deliveries are redone")
            self.close()
            return
        if self._returned is not None:
            # A result went nowhere: its input (and those after it) stay unacked and come back when we close.
            if self._conn is not None and (self._conn.is_closing or self._conn.is_closed):
                return  # a later confirm of the same channel: already closing
            self._return_streak += 1
            self.log.error("broker returned a publish (%s); not acking its input, reconnecting to declare the "
                           "topology and redo it", self._returned, extra={"unroutable_total": self.unroutable})
            self.close()
            return
        self._return_streak = 0
        for tag in pop_confirmed(self._inflight, method):
            self._waiting[tag] -= 1
            if self._waiting[tag] == 0:
                del self._waiting[tag]
                self._finish(tag)
        self._ack_finished()

    def _finish(self, tag: int) -> None:
        self._finished.add(tag)

    def _ack_finished(self) -> None:
        upto = self._acked_upto
        while upto + 1 in self._finished:
            upto += 1
            self._finished.discard(upto)
        if upto > self._acked_upto:
            assert self.channel is not None  # called from the channel's own callbacks, while it is open
            self.channel.basic_ack(upto, multiple=True)
            self._acked_upto = upto

    def on_disconnected(self) -> None:
        self.consuming.clear()
        self._drain_stale()
        if self._return_streak and not self.stopping:  # the route was missing: give it time to come back
            delay = min(self.settings.reconnect_max_s, 0.2 * 2 ** min(self._return_streak - 1, 10))
            self.log.warning("reconnecting in %.1fs after an unroutable publish", delay)
            self._stopping.wait(delay)

    def _drain_stale(self) -> None:
        try:
            while True:
                self._work.get_nowait()
        except queue.Empty:
            pass

    def on_stop(self) -> None:
        """SIGTERM: stop taking deliveries, finish the ones in hand (bounded wait), then close."""
        if self.channel is not None and self.channel.is_open and self._consumer_tag:
            self.channel.basic_cancel(self._consumer_tag)
        self._closing_at = time.monotonic() + 10
        self._close_when_idle()

    def _close_when_idle(self) -> None:
        idle = self._work.empty() and not self._busy.is_set() and not self._results_pending.get(self.generation)
        idle = idle and not self._inflight
        if idle or self._closing_at is None or time.monotonic() > self._closing_at or self.channel is None \
                or self._conn is None:
            self.close()  # anything still unacked goes back to the queue: redelivery is harmless
            return
        self._conn.ioloop.call_later(0.05, self._close_when_idle)

    def _count_pending(self, generation: int, delta: int) -> None:
        with self._lock:
            self._results_pending[generation] = self._results_pending.get(generation, 0) + delta

    # -- worker thread ----------------------------------------------------------------
    def _work_loop(self) -> None:
        while True:
            item = self._work.get()
            if item is None:
                return
            self._busy.set()
            try:
                batch = [item]
                while len(batch) < self.batch_size:
                    try:
                        nxt = self._work.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is None:
                        self._work.put(None)
                        break
                    batch.append(nxt)
                generation = batch[-1][0]
                deliveries = [d for g, d in batch if g == generation]
                results = self._handle(deliveries)
                self.processed += len(deliveries)
                self._count_pending(generation, +1)
                if not self.call_threadsafe(partial(self._on_results, generation, results)):
                    self._count_pending(generation, -1)
            finally:
                self._busy.clear()

    def _handle(self, deliveries: list[Delivery]) -> list[Result]:
        """The handler's results, each failure a dead letter (common.retry: transient errors backed off for a
        budget, any other error isolated to the one delivery that causes it)."""
        MESSAGES_CONSUMED.labels(self.queue_name).inc(len(deliveries))
        outcomes = run_isolated(deliveries, self.handler, self.policy, on_error=self._on_handler_error)
        results = []
        for d, res in zip(deliveries, outcomes, strict=True):
            if isinstance(res, Failed):
                self.dead_lettered += 1
                results.append(Result(d.tag, [dead_letter(d, self.dlx, self.queue_name, res.reason, res.detail)]))
            else:
                results.append(res)
        return results

    def _on_handler_error(self, deliveries: list[Delivery], exc: BaseException) -> None:
        self.log.error("handler failed on %d deliveries (%s: %s); %s", len(deliveries), type(exc).__name__, exc,
                       "retried within the budget" if is_transient(exc) else "isolating the failing one")
