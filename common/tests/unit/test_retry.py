"""The consumers' batch policy: transient errors backed off with jitter for a budget, other errors isolated."""
import sqlite3

import pytest

from common.retry import HANDLER_ERROR, RETRIES_EXHAUSTED, Failed, RetryPolicy, is_transient, run_isolated

pytestmark = pytest.mark.unit
FAST = RetryPolicy(budget_s=0.2, initial_s=0.001, max_wait_s=0.01)


def doubled(items):
    return [i * 2 for i in items]


def test_a_good_batch_runs_once_as_a_batch():
    calls = []
    assert run_isolated([1, 2, 3], lambda xs: calls.append(list(xs)) or doubled(xs), FAST) == [2, 4, 6]
    assert calls == [[1, 2, 3]]


def test_one_bad_item_is_dead_lettered_alone_and_its_neighbours_are_processed():
    def work(xs):
        if 13 in xs:
            raise RecursionError("maximum recursion depth exceeded")
        return doubled(xs)

    out = run_isolated(list(range(10, 20)), work, FAST)
    assert [o for o in out if not isinstance(o, Failed)] == [i * 2 for i in range(10, 20) if i != 13]
    (bad,) = [o for o in out if isinstance(o, Failed)]
    assert (bad.item, bad.reason) == (13, HANDLER_ERROR) and "RecursionError" in bad.detail
    assert out.index(bad) == 3  # in place: results stay in delivery order


def test_transient_errors_are_retried_with_jittered_backoff_then_dead_lettered():
    waits, calls = [], []

    def locked(xs):
        calls.append(len(xs))
        raise sqlite3.OperationalError("database is locked")

    out = run_isolated([1, 2], locked, FAST, sleep=waits.append)
    assert all(isinstance(o, Failed) and o.reason == RETRIES_EXHAUSTED for o in out)
    assert set(calls) == {2}, "a transient error is no item's fault: the batch is never split for it"
    assert len(calls) == len(waits) + 1 and len(waits) >= 2
    assert all(0 <= w <= FAST.max_wait_s for w in waits) and len(set(waits)) > 1  # jitter: not a fixed step


def test_a_transient_error_that_clears_is_not_dead_lettered():
    state = {"n": 0}

    def flaky(xs):
        state["n"] += 1
        if state["n"] < 3:
            raise OSError(28, "No space left on device")
        return doubled(xs)

    assert run_isolated([1, 2], flaky, FAST, sleep=lambda _s: None) == [2, 4]


def test_after_one_item_spends_the_budget_the_others_are_tried_once_each():
    calls = []

    def work(xs):
        calls.append(list(xs))
        if len(xs) > 1:
            raise ValueError("a bug only a batch triggers")
        raise sqlite3.OperationalError("disk I/O error")

    out = run_isolated([1, 2, 3], work, FAST, sleep=lambda _s: None)
    assert [o.reason for o in out] == [RETRIES_EXHAUSTED] * 3
    assert calls.count([2]) == 1 and calls.count([3]) == 1 and calls.count([1]) > 1


def test_what_counts_as_transient():
    assert is_transient(sqlite3.OperationalError("database is locked")) and is_transient(OSError(28, "full"))
    assert not is_transient(ValueError("bad")) and not is_transient(RecursionError())
    assert not is_transient(sqlite3.IntegrityError("constraint"))


def test_policy_comes_from_settings():
    from common.settings import Settings

    p = RetryPolicy.from_settings(Settings(consumer_retry_budget_s=90, consumer_retry_max_wait_s=7))
    assert (p.budget_s, p.max_wait_s) == (90, 7)
