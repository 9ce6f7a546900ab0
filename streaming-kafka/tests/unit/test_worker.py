"""The inventory worker's loop without a broker: a poison record is dead-lettered alone and the batch is
committed; the co-partitioning of the two event topics is checked at start-up."""
from types import SimpleNamespace

import orjson
import pytest

from common.stock import StockStore
from streaming_kafka.events import OrderPlaced
from streaming_kafka.inventory_consumer.handler import InventoryHandler
from streaming_kafka.inventory_consumer.worker import InventoryWorker
from streaming_kafka.kafka_io import KafkaError, TopicPartition
from streaming_kafka.topology import DLQ_TOPIC, INVENTORY_TOPIC, ORDER_TOPIC, TopologyError, check_copartitioned

pytestmark = pytest.mark.unit
DEEP = b"[" * 30_000 + b"]" * 30_000


class Producer:
    def __init__(self):
        self.sent = []

    def send(self, topic, key=None, value=None, headers=None, partition=None):
        self.sent.append(SimpleNamespace(topic=topic, key=key, value=value, headers=dict(headers or [])))
        return SimpleNamespace(get=lambda timeout=None: None)

    def flush(self, timeout=None):
        pass

    def close(self, timeout=None):
        pass


class Consumer:
    def __init__(self):
        self.committed = {}

    def commit(self, offsets):
        self.committed.update(offsets)


def records(values, partition=0):
    return [SimpleNamespace(topic=ORDER_TOPIC, partition=partition, offset=i, key=b"k", value=v)
            for i, v in enumerate(values)]


def good(n: int) -> bytes:
    return OrderPlaced.new(order_id=f"ORD-1795590180000-{n:08x}", event_id=f"{n:032x}", student_id="s",
                           item="soda", quantity=1, ts_ms=1_795_590_180_000).to_bytes()


@pytest.fixture
def worker(tmp_path, tmp_settings):
    store = StockStore(tmp_path / "inv.db", initial={"soda": 1000})
    settings = tmp_settings.model_copy(update={"consumer_retry_budget_s": 0.1})
    w = InventoryWorker(settings, InventoryHandler(store, max_bytes=settings.max_message_bytes))
    w.store = store
    return w


def test_a_deeply_nested_record_among_499_good_ones_is_dead_lettered_alone_and_the_batch_committed(worker):
    """Issue 10, defect 1: the worker caught only KafkaError, died without committing, and died again on
    every start on the same record."""
    values = [good(n) for n in range(499)]
    values.insert(250, DEEP)
    producer, consumer = Producer(), Consumer()
    tp = TopicPartition(ORDER_TOPIC, 0)
    worker._process(consumer, producer, {tp: records(values)})
    assert consumer.committed[tp] == 500
    dead = [m for m in producer.sent if m.topic == DLQ_TOPIC]
    assert [(m.value, m.headers["dlq_reason"], m.headers["source_offset"]) for m in dead] == [
        (DEEP, b"too_deep", b"250")]
    assert sum(m.topic == INVENTORY_TOPIC for m in producer.sent) == 499
    assert worker.store.snapshot()["soda"] == 1000 - 499


def test_an_unexpected_handler_error_dead_letters_only_the_record_that_causes_it(worker):
    real = worker.handler.handle

    def handle(values):
        if b"boom" in values:
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
        return real(values)

    worker.handler.handle = handle
    producer, consumer = Producer(), Consumer()
    tp = TopicPartition(ORDER_TOPIC, 3)
    worker._process(consumer, producer, {tp: records([good(1), b"boom", good(2)], partition=3)})
    assert consumer.committed[tp] == 3
    # results go out as one batch, dead letters on their own: compared without their order across topics
    assert sorted((m.topic, m.headers.get("dlq_reason") or b"") for m in producer.sent) == sorted([
        (INVENTORY_TOPIC, b""), (DLQ_TOPIC, b"handler_error"), (INVENTORY_TOPIC, b"")])


def test_a_result_the_producer_refuses_before_kafka_dead_letters_that_record_and_the_batch_commits(worker):
    class Refusing(Producer):
        def send(self, topic, key=None, value=None, headers=None, partition=None):
            if topic == INVENTORY_TOPIC and partition == 7:
                raise AssertionError("Unrecognized partition")
            return super().send(topic, key, value, headers, partition)

    producer, consumer = Refusing(), Consumer()
    tp7, tp0 = TopicPartition(ORDER_TOPIC, 7), TopicPartition(ORDER_TOPIC, 0)
    worker._process(consumer, producer, {tp7: records([good(1)], partition=7), tp0: records([good(2)])})
    assert consumer.committed == {tp7: consumer.committed[tp7], tp0: consumer.committed[tp0]}
    assert [(m.topic, m.headers.get("dlq_reason")) for m in producer.sent] == [
        (DLQ_TOPIC, b"produce_error"), (INVENTORY_TOPIC, None)]


class Admin:
    def __init__(self, counts, not_ready: int = 0):
        self.counts, self.not_ready, self.calls = counts, not_ready, 0

    def describe_topics(self, topics):
        self.calls += 1
        if self.calls <= self.not_ready:  # a topic just created: described with an error and no partitions
            return {}
        return {t: list(range(self.counts[t])) for t in topics if t in self.counts}


def test_copartitioning_is_checked_at_start_up_with_a_clear_error(settings):
    assert check_copartitioned(settings, Admin({ORDER_TOPIC: 6, INVENTORY_TOPIC: 6})) == 6
    with pytest.raises(TopologyError, match="OrderEvents has 6, InventoryEvents has 3"):
        check_copartitioned(settings, Admin({ORDER_TOPIC: 6, INVENTORY_TOPIC: 3}))
    with pytest.raises(TopologyError, match="InventoryEvents has 0"):
        check_copartitioned(settings, Admin({ORDER_TOPIC: 6}), wait_s=0)


def test_copartitioning_waits_for_topics_the_broker_does_not_describe_yet(settings):
    """make test saw describe_topics right after create_topics answer LEADER_NOT_AVAILABLE with no partitions
    for both topics: 0 == 0 passed the check. Such a topic is asked again, and the real counts decide."""
    admin = Admin({ORDER_TOPIC: 4, INVENTORY_TOPIC: 2}, not_ready=2)
    with pytest.raises(TopologyError, match="OrderEvents has 4, InventoryEvents has 2"):
        check_copartitioned(settings, admin, wait_s=5)
    assert admin.calls == 3


class Polling(Consumer):
    """A consumer for run(): serves `batches` on poll, or raises what it is given (kafka-python-ng #180)."""

    def __init__(self, worker, batches, fail=None):
        super().__init__()
        self.worker, self.batches, self.fail, self.closed = worker, list(batches), fail, False

    def subscribe(self, topics, on_assign=None, on_revoke=None):
        pass

    def poll(self, timeout_ms=0, max_records=None):
        if self.fail:
            raise self.fail
        if not self.batches:
            self.worker.stop()
            return {}
        return self.batches.pop(0)

    def close(self, autocommit=False):
        self.closed = True


def test_a_client_broken_by_kafka_python_ng_180_is_replaced_and_consuming_goes_on(worker, monkeypatch):
    broken = Polling(worker, [], fail=ValueError("Invalid file descriptor: -1"))
    fresh = Polling(worker, [{TopicPartition(ORDER_TOPIC, 0): records([good(1), good(2)])}])
    monkeypatch.setattr("streaming_kafka.inventory_consumer.worker.make_consumer", lambda *a, **kw: fresh)
    worker._consumer, worker._producer = broken, Producer()
    worker.run()
    assert broken.closed and fresh.committed[TopicPartition(ORDER_TOPIC, 0)] == 2
    assert worker.store.reserved_units() == {"soda": 2}


def test_other_value_errors_still_stop_the_worker(worker):
    worker._consumer, worker._producer = Polling(worker, [], fail=ValueError("something else")), Producer()
    with pytest.raises(ValueError, match="something else"):
        worker.run()


# --- the pipelined loop: a batch is committed only after its results are acknowledged, in order


class LazyProducer(Producer):
    """Acknowledges a send only when it is awaited (`get`) or flushed, as a broker's acks=all reply comes later:
    a commit made before its batch's results were awaited finds them unacknowledged. `fail` (an order number):
    that result's acknowledgement fails once."""

    def __init__(self, fail: int | None = None):
        super().__init__()
        self.fail = None if fail is None else order_id(fail).encode()

    def send(self, topic, key=None, value=None, headers=None, partition=None):
        super().send(topic, key, value, headers, partition)
        m = self.sent[-1]
        m.acked = False

        def get(timeout=None):
            if key is not None and key == self.fail:
                self.fail = None
                raise KafkaError("delivery failed")
            m.acked = True

        return SimpleNamespace(get=get)

    def flush(self, timeout=None):
        for m in self.sent:
            m.acked = m.acked or m.key != self.fail


class LogConsumer:
    """A group member over in-memory partition logs: each poll serves up to `per_poll` records of every partition
    and stops the worker with the last ones (`stop_early`: the stop must drain what is in flight), else on the
    first poll that finds nothing. Its commit checks that the
    offsets only move forward and that every result of a record below them was acknowledged before. `revoke_at`:
    the poll that first revokes the partitions (then resumes from the committed offsets, as a rejoin does)."""

    def __init__(self, worker, producer, logs: dict, per_poll: int = 3, revoke_at: int | None = None,
                 stop_early: bool = False):
        self.worker, self.producer, self.logs, self.per_poll, self.revoke_at = worker, producer, logs, per_poll, revoke_at
        self.stop_early = stop_early
        self.position = dict.fromkeys(logs, 0)
        self.committed: dict = {}
        self.events: list = []
        self.polls = 0
        self.closed = False
        self.on_revoke = None

    def subscribe(self, topics, on_assign=None, on_revoke=None):
        self.on_revoke = on_revoke

    def poll(self, timeout_ms=0, max_records=None):
        self.polls += 1
        if self.polls == self.revoke_at:
            self.events.append("revoke")
            self.on_revoke(list(self.logs))
            self.events.append(("after revoke", dict(self.committed), len(self.worker.in_flight)))
            self.position = {tp: self.committed.get(tp, 0) for tp in self.logs}
        out = {}
        for tp, log in self.logs.items():
            at = self.position[tp]
            if at < len(log):
                out[tp] = records(log[at:at + self.per_poll], partition=tp.partition)[:]
                for i, r in enumerate(out[tp]):
                    r.offset = at + i
                self.position[tp] = at + len(out[tp])
        if not out or (self.stop_early and all(self.position[tp] >= len(log) for tp, log in self.logs.items())):
            self.worker.stop()
        self.events.append(("poll", {tp: (recs[0].offset, recs[-1].offset + 1) for tp, recs in out.items()}))
        return out

    def commit(self, offsets):
        assert not self.closed
        for tp, offset in offsets.items():
            assert offset >= self.committed.get(tp, 0), "offsets committed out of order"
        acked: dict = {}  # each record answered: whether one of the sends answering it is acknowledged
        for m in self.producer.sent:
            acked[source(m, self.logs)] = acked.get(source(m, self.logs)) or m.acked
        for (tp, offset), ok in acked.items():
            assert offset >= offsets.get(tp, 0) or ok, f"offset {offset} of {tp} committed before its ack"
        self.committed.update(offsets)
        self.events.append(("commit", dict(offsets)))

    def seek(self, tp, offset):
        self.events.append(("seek", tp, offset))
        self.position[tp] = offset

    def close(self):
        self.closed = True


def order_id(n: int) -> str:
    return f"ORD-1795590180000-{n:08x}"


def source(message, logs: dict) -> tuple:
    """The partition and offset of the record a sent result or dead letter answers."""
    if message.topic == DLQ_TOPIC:
        return TopicPartition(ORDER_TOPIC, int(message.headers["source_partition"])), int(
            message.headers["source_offset"])
    for tp, log in logs.items():
        for offset, value in enumerate(log):
            if value.startswith(b"{") and orjson.loads(value)["order_id"].encode() == message.key:
                return tp, offset
    raise AssertionError(f"no record for {message.key}")


TP0, TP1 = TopicPartition(ORDER_TOPIC, 0), TopicPartition(ORDER_TOPIC, 1)


def test_the_next_batches_are_reserved_while_the_previous_wait_and_commits_follow_acks_in_order(worker):
    producer = LazyProducer()
    logs = {TP0: [good(n) for n in range(12)], TP1: [good(100 + n) for n in range(4)] + [b"not json"]}
    consumer = LogConsumer(worker, producer, logs, stop_early=True)
    worker._consumer, worker._producer = consumer, producer
    worker.run()
    # COMMIT_EVERY (2) batches in one commit once a third is sent; the stop drains the last two
    assert [e[0] for e in consumer.events] == ["poll", "poll", "poll", "commit", "poll", "commit"]
    assert [e[1] for e in consumer.events if e[0] == "commit"] == [{TP0: 6, TP1: 5}, {TP0: 12}]
    assert consumer.closed and all(m.acked for m in producer.sent)
    assert worker.stats["processed"] == 17 and worker.stats["dead_letters"] == 1
    assert worker.store.reserved_units() == {"soda": 16}


def test_a_failed_ack_rewinds_to_the_oldest_uncommitted_batch_and_the_retry_is_identical(worker, monkeypatch):
    monkeypatch.setattr("streaming_kafka.inventory_consumer.worker.time.sleep", lambda s: None)
    producer = LazyProducer(fail=1)
    logs = {TP0: [good(n) for n in range(9)]}
    consumer = LogConsumer(worker, producer, logs)
    worker._consumer, worker._producer = consumer, producer
    worker.run()
    # the later batches were reserved and sent when the first one's ack failed: all are delivered again
    assert consumer.events[:5] == [("poll", {TP0: (0, 3)}), ("poll", {TP0: (3, 6)}), ("poll", {TP0: (6, 9)}),
                                   ("seek", TP0, 0), ("poll", {TP0: (0, 3)})]
    assert consumer.committed == {TP0: 9}
    first, again = producer.sent[:9], producer.sent[9:]
    assert [(m.key, m.value) for m in first] == [(m.key, m.value) for m in again]
    assert worker.store.reserved_units() == {"soda": 9}


def test_a_revoke_commits_the_batch_in_flight_before_the_partitions_move(worker):
    producer = LazyProducer()
    logs = {TP0: [good(n) for n in range(6)]}
    consumer = LogConsumer(worker, producer, logs, revoke_at=2)
    worker._consumer, worker._producer = consumer, producer
    worker.run()
    assert consumer.events[:3] == [("poll", {TP0: (0, 3)}), "revoke", ("commit", {TP0: 3})]
    assert consumer.events[3] == ("after revoke", {TP0: 3}, 0)
    assert consumer.committed == {TP0: 6} and worker.store.reserved_units() == {"soda": 6}


def test_a_revoke_abandons_a_batch_in_flight_whose_ack_fails_and_the_new_owner_redelivers_it(worker):
    producer = LazyProducer(fail=0)
    logs = {TP0: [good(n) for n in range(6)]}
    consumer = LogConsumer(worker, producer, logs, revoke_at=2)
    worker._consumer, worker._producer = consumer, producer
    worker.run()
    assert consumer.events[:3] == [("poll", {TP0: (0, 3)}), "revoke", ("after revoke", {}, 0)]
    assert consumer.events[3] == ("poll", {TP0: (0, 3)}), "resumed from the committed offset"
    assert not any(e[0] == "seek" for e in consumer.events)
    assert consumer.committed == {TP0: 6} and worker.store.reserved_units() == {"soda": 6}
    assert [m.value for m in producer.sent[:3]] == [m.value for m in producer.sent[3:6]]
