"""A broker that goes away must never stall a consumer for good: a commit that cannot complete raises within its
deadline (both clients), a subscribed poll never blocks on an absent coordinator, and both workers replace a
client that timed out and keep consuming from the committed offsets (found by the chaos ring: after kill -9 and a
restart of the broker, kafka-python-ng's groups never caught up)."""
import time
from types import SimpleNamespace

import pytest

from common.settings import Settings
from common.stock import StockStore
from streaming_kafka.analytics_consumer.worker import AnalyticsWorker
from streaming_kafka.events import OrderPlaced
from streaming_kafka.inventory_consumer.handler import InventoryHandler
from streaming_kafka.inventory_consumer.worker import InventoryWorker
from streaming_kafka.kafka_io import (
    CommitFailedError,
    KafkaError,
    KafkaTimeoutError,
    TopicPartition,
    Values,
    client_broken,
    kafka_python,
)

pytestmark = pytest.mark.unit
TP = TopicPartition("OrderEvents", 0)


def order(n: int) -> bytes:
    return OrderPlaced.new(order_id=f"ORD-1795590180000-{n:08x}", event_id=f"{n:032x}", student_id="s",
                           item="soda", quantity=1, ts_ms=1_795_590_180_000 + n).to_bytes()


class Pending:
    """A request future nobody answers (the coordinator is gone)."""
    is_done = False


class Done:
    def __init__(self, exception=None, retriable=True):
        self.is_done, self.exception, self._retriable = True, exception, retriable

    def succeeded(self):
        return self.exception is None

    def failed(self):
        return self.exception is not None

    def retriable(self):
        return self._retriable


class Coordinator:
    """kafka-python-ng's ConsumerCoordinator as the seam's commit and poll use it."""

    def __init__(self, known=False, commits=(), state="UNJOINED"):
        self.known, self.commits, self.state = known, list(commits), state
        self.lookups = self.sent = 0

    def coordinator_unknown(self):
        return not self.known

    def lookup_coordinator(self):
        self.lookups += 1
        return Pending()

    def _send_offset_commit_request(self, offsets):
        self.sent += 1
        return self.commits.pop(0) if self.commits else Pending()


class Network:
    """The client: poll waits at most its timeout and answers nothing."""

    def __init__(self):
        self.polls = 0
        self.cluster = SimpleNamespace(request_update=lambda: None)

    def poll(self, timeout_ms=None, future=None):
        assert future is None, "poll(future=...) has no deadline"
        self.polls += 1
        time.sleep(min(timeout_ms, 20) / 1000)
        return []


def kafka_python_consumer(coordinator) -> kafka_python.Consumer:
    consumer = kafka_python.Consumer.__new__(kafka_python.Consumer)  # no sockets: only commit() and poll() are used
    consumer.config = {"group_id": "inventory-group", "retry_backoff_ms": 20}
    consumer._coordinator, consumer._client = coordinator, Network()
    consumer._subscribed, consumer._unready_since = True, None
    return consumer


def test_a_commit_whose_coordinator_never_answers_raises_within_its_deadline():
    coordinator = Coordinator(known=False)
    consumer = kafka_python_consumer(coordinator)
    t0 = time.monotonic()
    with pytest.raises(KafkaTimeoutError):
        consumer.commit({TP: 5}, timeout_s=0.3)
    assert time.monotonic() - t0 < 5, "the commit outlived its deadline by far"
    assert coordinator.lookups >= 1 and coordinator.sent == 0 and consumer._client.polls >= 1
    assert client_broken(KafkaTimeoutError("x")) and not client_broken(CommitFailedError("x"))


def test_a_commit_keeps_retrying_retriable_errors_until_it_is_done():
    busy = KafkaError("coordinator loading")
    coordinator = Coordinator(known=True, commits=[Done(busy), Done(busy), Done()])
    kafka_python_consumer(coordinator).commit({TP: 5}, timeout_s=10)
    assert coordinator.sent == 3


def test_a_commit_retried_past_its_deadline_raises_kafka_timeout():
    coordinator = Coordinator(known=True, commits=[Done(KafkaError("not coordinator"))] * 1000)
    with pytest.raises(KafkaTimeoutError):
        kafka_python_consumer(coordinator).commit({TP: 5}, timeout_s=0.2)
    assert 1 <= coordinator.sent < 1000


def test_a_commit_after_a_rebalance_is_still_commit_failed():
    coordinator = Coordinator(known=True, commits=[Done(CommitFailedError("rebalanced"), retriable=False)])
    with pytest.raises(CommitFailedError):
        kafka_python_consumer(coordinator).commit({TP: 5}, timeout_s=10)


def test_a_subscribed_poll_without_a_coordinator_returns_nothing_instead_of_blocking():
    coordinator = Coordinator(known=False)
    consumer = kafka_python_consumer(coordinator)
    # the library's own poll would loop in ensure_coordinator_ready; on this bare object it would fail at once
    assert consumer.poll(timeout_ms=50) == {}
    assert coordinator.lookups == 1
    coordinator.known, coordinator.state = True, kafka_python.MemberState.STABLE
    consumer._coordinator = SimpleNamespace(state=coordinator.state, coordinator_unknown=lambda: False)
    assert consumer._group_ready(50) and consumer._unready_since is None  # joined again: the stall clock stops


def test_a_group_left_without_a_coordinator_past_the_stall_limit_makes_poll_raise(monkeypatch):
    monkeypatch.setattr(kafka_python, "GROUP_STALL_S", 0.0)
    consumer = kafka_python_consumer(Coordinator(known=False))
    assert consumer.poll(timeout_ms=10) == {}  # the first poll that finds no coordinator starts the clock
    time.sleep(0.01)
    with pytest.raises(KafkaTimeoutError) as caught:
        consumer.poll(timeout_ms=10)
    assert client_broken(caught.value)


def test_a_confluent_commit_whose_coordinator_stays_away_raises_within_its_deadline():
    from streaming_kafka.kafka_io import confluent
    consumer = confluent.Consumer.__new__(confluent.Consumer)  # no librdkafka client: only commit() is used
    calls = []

    def commit(offsets, asynchronous):
        calls.append(asynchronous)
        raise confluent.KafkaException(confluent._Err(confluent._Err._WAIT_COORD))

    consumer._c = SimpleNamespace(commit=commit)
    with pytest.raises(KafkaTimeoutError):
        consumer.commit({TP: 5}, timeout_s=0.5)
    assert calls and not any(calls)  # synchronous commits, retried until the deadline


class GroupConsumer:
    """A subscribed consumer for a worker's run(): each poll serves the next batch of the log from its position
    (the group's committed offset at the start); `commit_fails` makes every commit time out, as one whose
    coordinator never came back."""

    def __init__(self, worker, log, committed=0, per_poll=3, commit_fails=False):
        self.worker, self.log, self.position, self.per_poll = worker, log, committed, per_poll
        self.commit_fails, self.committed, self.closed = commit_fails, committed, False
        self.on_assign = None

    def subscribe(self, topics, on_assign=None, on_revoke=None):
        self.on_assign = on_assign

    def poll(self, timeout_ms=0, max_records=None):
        starts = (self.on_assign([TP]) or {}) if self.on_assign else {}
        if TP in starts:  # the analytics worker rewinds each assignment to what it has folded
            self.position = 0 if starts[TP] < 0 else starts[TP]
            self.on_assign = None  # assigned once, as a group does until the next rebalance
        recs = [SimpleNamespace(topic=TP.topic, partition=0, offset=o, key=b"k", value=self.log[o])
                for o in range(self.position, min(self.position + self.per_poll, len(self.log)))]
        if not recs:
            self.worker.stop()
            return {}
        self.position = recs[-1].offset + 1
        return {TP: recs}

    def poll_values(self, timeout_ms=0, max_records=None):
        return {tp: Values([r.value for r in recs], [r.offset for r in recs])
                for tp, recs in self.poll(timeout_ms, max_records).items()}

    def commit(self, offsets):
        if self.commit_fails:
            raise KafkaTimeoutError("commit not done within 30 s (the group's coordinator is away)")
        self.committed = offsets[TP]

    def seek(self, tp, offset):
        self.position = offset

    def close(self):
        self.closed = True


def test_the_inventory_worker_replaces_a_consumer_whose_commit_timed_out_and_goes_on(tmp_path, tmp_settings,
                                                                                     monkeypatch, producer_class):
    store = StockStore(tmp_path / "inv.db", initial={"soda": 1000})
    worker = InventoryWorker(tmp_settings, InventoryHandler(store, max_bytes=tmp_settings.max_message_bytes))
    log = [order(n) for n in range(5)]
    # two records a poll: the third batch makes the worker commit the first two, while records are still coming
    stuck = GroupConsumer(worker, log, per_poll=2, commit_fails=True)
    fresh = []

    def new_consumer(*_a, **_kw):  # the new member resumes from the group's committed offset: nothing committed
        fresh.append(GroupConsumer(worker, log))
        return fresh[-1]

    monkeypatch.setattr("streaming_kafka.inventory_consumer.worker.make_consumer", new_consumer)
    producer = producer_class()
    worker._consumer, worker._producer = stuck, producer
    worker.run()
    assert stuck.closed and len(fresh) == 1 and fresh[0].committed == len(log)
    assert store.reserved_units() == {"soda": len(log)}, "the redelivered batch must not reserve twice"
    # the stuck member sent all its batches (the later ones in flight when the commit timed out): the new member
    # sends the same results again
    assert len(producer.sent) == 2 * len(log) and set(producer.sent[:5]) == set(producer.sent[5:])


def test_the_analytics_worker_replaces_a_consumer_whose_commit_timed_out_and_skips_nothing(tmp_path, monkeypatch):
    worker = AnalyticsWorker(Settings(metrics_dir=tmp_path, metrics_interval_s=3600))
    log = [order(n) for n in range(10)]
    stuck = GroupConsumer(worker, log, commit_fails=True)
    fresh = []

    def new_consumer(*_a, **_kw):  # resumes from the commits (none): _Rewind seeks past what is folded
        fresh.append(GroupConsumer(worker, log))
        return fresh[-1]

    worker.consumer = stuck
    monkeypatch.setattr("streaming_kafka.analytics_consumer.worker.make_consumer", new_consumer)
    worker.run()
    assert stuck.closed and len(fresh) == 1 and fresh[0].committed == len(log)
    assert len(worker.state.orders) == len(log)


def test_a_confluent_flush_that_leaves_records_undelivered_raises_like_kafka_python_ng():
    from streaming_kafka.kafka_io import confluent
    producer = confluent.Producer.__new__(confluent.Producer)  # no librdkafka client: only flush/close are used
    producer._p = SimpleNamespace(flush=lambda timeout: 3)  # librdkafka's flush returns what is still queued
    with pytest.raises(KafkaTimeoutError, match="3 records"):
        producer.flush(timeout=0.1)
    producer.close(timeout=0.1)  # closing drops what is left, as kafka-python-ng's close does
    producer._p = SimpleNamespace(flush=lambda timeout: 0)
    producer.flush(timeout=0.1)
