"""The inventory worker's loop without a broker: a poison record is dead-lettered alone and the batch is
committed; the co-partitioning of the two event topics is checked at start-up."""
from types import SimpleNamespace

import pytest

from common.stock import StockStore
from streaming_kafka.events import OrderPlaced
from streaming_kafka.inventory_consumer.handler import InventoryHandler
from streaming_kafka.inventory_consumer.worker import InventoryWorker
from streaming_kafka.kafka_io import TopicPartition
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
