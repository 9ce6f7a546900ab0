"""A circuit breaker for the inventory call: after repeated failures, fail fast for a cool-down, then probe.

closed    -> calls pass; `threshold` consecutive failures open it.
open      -> calls are refused at once (the caller answers 503) until `reset_s` has passed.
half_open -> one probe call passes; success closes the breaker, failure opens it again.
Use `call()`: every outcome of the guarded call is recorded, whatever it raises (an exception that escaped
both `success()` and `failure()` once left the breaker in half_open for good, refusing every order).
A probe that has not reported after `probe_timeout_s` (a thread lost mid-call) no longer blocks the next one.
The clock is injected so the state machine is unit-tested without sleeping.

Hand-written rather than pybreaker: pybreaker's `CircuitBreaker.call` holds one lock for the whole
guarded call, which would serialise every inventory call of a worker (16 threads) behind one another.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

T = TypeVar("T")
CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@dataclass(frozen=True)
class Snapshot:
    state: str
    failures: int
    retry_after_s: float


class CircuitOpen(Exception):
    """`call()` refused: the circuit is open (or a probe is already running)."""


class CircuitBreaker:
    def __init__(self, threshold: int, reset_s: float, clock: Callable[[], float] = time.monotonic,
                 on_change: Callable[[str, str], None] | None = None, probe_timeout_s: float | None = None):
        self.threshold = threshold
        self.reset_s = reset_s
        self.probe_timeout_s = probe_timeout_s if probe_timeout_s is not None else reset_s
        self._clock = clock
        self._on_change = on_change or (lambda old, new: None)
        self._lock = threading.Lock()
        self._state = CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        self._probe_at = 0.0

    def _set(self, new: str) -> None:
        old, self._state = self._state, new
        if old != new:
            self._on_change(old, new)

    def allow(self) -> bool:
        """May a call go through now? In half-open, only one probe at a time."""
        with self._lock:
            if self._state == OPEN and self._clock() - self._opened_at >= self.reset_s:
                self._set(HALF_OPEN)
                self._probing = False
            if self._state == CLOSED:
                return True
            if self._state == HALF_OPEN and (not self._probing
                                              or self._clock() - self._probe_at >= self.probe_timeout_s):
                self._probing = True
                self._probe_at = self._clock()
                return True
            return False

    def call(self, fn: Callable[[], T], ok: Callable[[T], bool] = lambda _: True) -> T:
        """Run `fn` through the breaker: CircuitOpen when refused; a result `ok` accepts is a success, any
        other result and any exception (re-raised) a failure."""
        if not self.allow():
            raise CircuitOpen()
        try:
            result = fn()
        except BaseException:
            self.failure()
            raise
        if ok(result):
            self.success()
        else:
            self.failure()
        return result

    def success(self) -> None:
        with self._lock:
            self._failures = 0
            self._probing = False
            self._set(CLOSED)

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            self._probing = False
            if self._state == HALF_OPEN or self._failures >= self.threshold:
                self._opened_at = self._clock()
                self._set(OPEN)

    def snapshot(self) -> Snapshot:
        with self._lock:
            left = max(0.0, self.reset_s - (self._clock() - self._opened_at)) if self._state == OPEN else 0.0
            return Snapshot(self._state, self._failures, round(left, 2))
