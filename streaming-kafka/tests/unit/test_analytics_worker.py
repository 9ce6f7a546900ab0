"""The live analytics loop across rebalances: its in-memory view is rebuilt from the log and must never skip a
record, whatever the group's committed offsets say (found by the chaos ring: a rebalance in the middle of the
rebuild after a restart resumed from the old process's committed offsets and left thousands of orders pending)."""
import pytest

from common.settings import Settings
from streaming_kafka.analytics_consumer.worker import AnalyticsWorker
from streaming_kafka.events import OrderPlaced
from streaming_kafka.kafka_io import BEGINNING, CommitFailedError, TopicPartition, Values

pytestmark = pytest.mark.unit
ORDERS = TopicPartition("OrderEvents", 0)



def orders(n: int) -> list[bytes]:
    """The values of n plain OrderPlaced events, one a millisecond."""
    return [OrderPlaced.new(order_id=f"ORD-{k}", event_id=f"{k:032x}", student_id="s",
                            item="pizza", quantity=1, ts_ms=1_795_590_180_000 + k).to_bytes() for k in range(n)]

class RebalancingConsumer:
    """Enough of KafkaConsumer: a rebalance before every poll; a partition nobody seeks in the rebalance callback
    resumes from the group's committed offset, as kafka-python does; the first commit fails (rebalance)."""

    def __init__(self, log: list[bytes], committed: int, per_poll: int, worker: AnalyticsWorker):
        self.log, self.committed, self.per_poll, self.worker = log, committed, per_poll, worker
        self.commits = 0

    def subscribe(self, topics, on_assign=None, on_revoke=None):
        self.on_assign = on_assign

    def poll_values(self, timeout_ms=0):
        starts = self.on_assign([ORDERS]) or {}
        start = {BEGINNING: 0}.get(starts.get(ORDERS), starts.get(ORDERS, self.committed))
        offsets = list(range(start, min(start + self.per_poll, len(self.log))))
        if not offsets:
            self.worker.stop()
        return {ORDERS: Values([self.log[o] for o in offsets], offsets)} if offsets else {}

    def commit(self, offsets):
        self.commits += 1
        if self.commits == 1:
            raise CommitFailedError("rebalanced")
        self.committed = offsets[ORDERS]

    def close(self):
        pass


def test_a_rebalance_during_the_rebuild_never_skips_records(tmp_path):
    log = orders(10)
    worker = AnalyticsWorker(Settings(metrics_dir=tmp_path, metrics_interval_s=3600))
    # A restarted process: the group committed the end (10) before the kill; the new one rebuilds from 0.
    worker.consumer = RebalancingConsumer(log, committed=len(log), per_poll=3, worker=worker)
    worker.run()
    assert len(worker.state.orders) == len(log)


class BrokenSocketConsumer(RebalancingConsumer):
    """kafka-python-ng #180: the client's poll raises `ValueError: Invalid file descriptor: -1` after it has
    folded some records."""

    def __init__(self, *a, fail_after: int, **kw):
        super().__init__(*a, **kw)
        self.polls, self.fail_after, self.closed = 0, fail_after, False

    def poll_values(self, timeout_ms=0):
        self.polls += 1
        if self.polls > self.fail_after:
            raise ValueError("Invalid file descriptor: -1")
        return super().poll_values(timeout_ms)

    def close(self):
        self.closed = True


def test_a_client_broken_by_kafka_python_ng_180_is_replaced_and_no_record_is_skipped(tmp_path, monkeypatch):
    log = orders(10)
    worker = AnalyticsWorker(Settings(metrics_dir=tmp_path, metrics_interval_s=3600))
    broken = BrokenSocketConsumer(log, committed=0, per_poll=3, worker=worker, fail_after=2)
    worker.consumer = broken
    replacements = []

    def new_consumer(*_a, **_kw):  # the new client resumes from the group's commits; _Rewind must seek past them
        replacements.append(RebalancingConsumer(log, committed=0, per_poll=3, worker=worker))
        return replacements[-1]

    monkeypatch.setattr("streaming_kafka.analytics_consumer.worker.make_consumer", new_consumer)
    worker.run()
    assert broken.closed and len(replacements) == 1
    assert len(worker.state.orders) == len(log)


def test_other_value_errors_are_not_swallowed(tmp_path):
    worker = AnalyticsWorker(Settings(metrics_dir=tmp_path, metrics_interval_s=3600))

    class Odd(RebalancingConsumer):
        def poll_values(self, timeout_ms=0):
            raise ValueError("something else")

    worker.consumer = Odd([], committed=0, per_poll=1, worker=worker)
    with pytest.raises(ValueError, match="something else"):
        worker.run()


class LastCommitFailsConsumer:
    """The chaos ring's stall: the batch's commit fails (the group rebalanced meanwhile), the same member gets the
    partition back and resumes where its state stopped (the end of the log), and no record arrives after that."""

    def __init__(self, log: list[bytes], worker: AnalyticsWorker):
        self.log, self.worker = log, worker
        self.committed, self.position, self.polls, self.commits, self.rebalance = 0, 0, 0, 0, True

    def subscribe(self, topics, on_assign=None, on_revoke=None):
        self.on_assign = on_assign

    def poll_values(self, timeout_ms=0):
        self.polls += 1
        if self.polls > 5:
            self.worker.stop()
        if self.rebalance:
            self.rebalance = False
            start = (self.on_assign([ORDERS]) or {}).get(ORDERS)
            self.position = self.committed if start is None else 0 if start == BEGINNING else start
        offsets = list(range(self.position, len(self.log)))
        self.position = len(self.log)
        return {ORDERS: Values([self.log[o] for o in offsets], offsets)} if offsets else {}

    def commit(self, offsets):
        self.commits += 1
        if self.commits == 1:
            self.rebalance = True
            raise CommitFailedError("rebalanced")
        self.committed = offsets[ORDERS]

    def close(self):
        pass


def test_a_failed_commit_is_made_good_after_the_rebalance_even_when_no_record_follows(tmp_path):
    log = orders(10)
    worker = AnalyticsWorker(Settings(metrics_dir=tmp_path, metrics_interval_s=3600))
    consumer = LastCommitFailsConsumer(log, worker)
    worker.consumer = consumer
    worker.run()
    assert len(worker.state.orders) == len(log)
    assert consumer.committed == len(log)  # lag 0: the group's offset says what the state holds
    assert consumer.commits == 2  # and nothing is committed again once it does
