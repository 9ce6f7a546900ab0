"""How every consumer of Parts B and C runs a batch of messages: transient errors are retried with jittered
backoff for a time budget, and any other error is isolated to the one message that causes it.

Pure (no broker here), so the policy is unit-tested in milliseconds:

- A transient error (SQLite busy or locked, disk full, an I/O error) is no message's fault: the whole batch
  is retried with exponential backoff and full jitter (tenacity) for `CONSUMER_RETRY_BUDGET_S`; only then is
  it dead-lettered, with reason `retries_exhausted`, to be re-driven (`make redrive`) once the cause is fixed.
- Any other error (a bug one message triggers) splits the batch: each message is run alone, so a good
  message is never dead-lettered because of a neighbour, and the one that fails alone is dead-lettered with
  reason `handler_error`.
"""
from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from tenacity import Retrying, retry_if_exception, stop_after_attempt, stop_after_delay, wait_random_exponential

RETRIES_EXHAUSTED = "retries_exhausted"  # transient: worth a redrive once the cause is fixed
HANDLER_ERROR = "handler_error"  # this message made the handler fail on its own
PRODUCE_ERROR = "produce_error"  # Part C: the result could not even be handed to the producer (e.g. a topic changed)
RETRYABLE_REASONS = frozenset({RETRIES_EXHAUSTED, HANDLER_ERROR, PRODUCE_ERROR})  # what `make redrive` re-publishes

T = TypeVar("T")
R = TypeVar("R")


def is_transient(exc: BaseException) -> bool:
    """Errors of the environment, not of a message: the same work may well succeed later."""
    return isinstance(exc, (sqlite3.OperationalError, OSError))


@dataclass(frozen=True)
class Failed(Generic[T]):
    """The outcome for an item that could not be processed: dead-letter it with `reason` and `detail`."""

    item: T
    reason: str
    detail: str


@dataclass(frozen=True)
class RetryPolicy:
    budget_s: float = 30.0  # how long transient errors are retried before dead-lettering
    initial_s: float = 0.2  # first backoff (before jitter); doubles each attempt
    max_wait_s: float = 5.0  # cap of one backoff

    @classmethod
    def from_settings(cls, settings) -> RetryPolicy:
        return cls(settings.consumer_retry_budget_s, settings.consumer_retry_initial_s,
                   settings.consumer_retry_max_wait_s)

    def retrying(self, sleep: Callable[[float], None] = time.sleep, budget: bool = True) -> Retrying:
        stop = stop_after_delay(self.budget_s) if budget else stop_after_attempt(1)
        return Retrying(retry=retry_if_exception(is_transient), stop=stop, reraise=True, sleep=sleep,
                        wait=wait_random_exponential(multiplier=self.initial_s, max=self.max_wait_s))


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:1000]


def run_isolated(items: Sequence[T], work: Callable[[list[T]], list[R]], policy: RetryPolicy,
                 sleep: Callable[[float], None] = time.sleep, on_error=None) -> list[R | Failed[T]]:
    """`work(items)` returns one result per item, in order. Returns the same, with a `Failed` for each item
    that could not be processed (see the module docstring for which, and why)."""
    items = list(items)
    return _run(items, work, policy, sleep, on_error or (lambda *_: None), budget=True)


def _run(items, work, policy, sleep, on_error, budget: bool) -> list:
    try:
        return list(policy.retrying(sleep, budget)(work, items))
    except Exception as exc:  # noqa: BLE001 - every failure becomes a value: retried, isolated or dead-lettered
        on_error(items, exc)
        if is_transient(exc):
            spent = f"after {policy.budget_s:g}s of retries" if budget else "tried once more after a neighbour's retries ran out"
            return [Failed(i, RETRIES_EXHAUSTED, f"{_describe(exc)} ({spent})") for i in items]
        if len(items) == 1:
            return [Failed(items[0], HANDLER_ERROR, _describe(exc))]
    out: list = []
    for item in items:  # one by one: only the item that fails alone is dead-lettered
        res = _run([item], work, policy, sleep, on_error, budget)[0]
        if isinstance(res, Failed) and res.reason == RETRIES_EXHAUSTED:
            budget = False  # the budget is spent: the others get one attempt each, not one budget each
        out.append(res)
    return out
