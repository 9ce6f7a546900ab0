"""Part A's own Prometheus metrics: the circuit breaker's state and transitions, and the two downstream calls.

Each gunicorn worker has its own breaker: `circuit_breaker_state` is the worst live worker's (0 closed, 1 open,
2 half_open), `circuit_breaker_info{breaker_state}` how many live workers are in each state.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator

from prometheus_client import Counter, Gauge, Histogram

from sync_rest.order_service.breaker import CLOSED, HALF_OPEN, OPEN

STATES = {CLOSED: 0, OPEN: 1, HALF_OPEN: 2}

BREAKER_STATE = Gauge("circuit_breaker_state", "The inventory breaker: 0 closed, 1 open, 2 half_open (worst worker)",
                      multiprocess_mode="livemax")
BREAKER_INFO = Gauge("circuit_breaker_info", "Workers whose inventory breaker is in each state", ["breaker_state"],
                     multiprocess_mode="livesum")
BREAKER_TRANSITIONS = Counter("circuit_breaker_transitions_total", "Changes of the inventory breaker's state",
                              ["from_state", "to_state"])
CALL_DURATION = Histogram("downstream_request_duration_seconds", "Time of the order service's calls, by target",
                          ["target"], buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
CALL_ERRORS = Counter("downstream_errors_total", "Failed calls to inventory or notification, by target and outcome",
                      ["target", "outcome"])


def breaker_state(new: str, old: str | None = None) -> None:
    """Record the breaker's state (at start, and on each change)."""
    BREAKER_STATE.set(STATES[new])
    for state in STATES:
        BREAKER_INFO.labels(state).set(1 if state == new else 0)
    if old is not None:
        BREAKER_TRANSITIONS.labels(old, new).inc()


@contextmanager
def timed(target: str) -> Iterator[None]:
    t0 = time.perf_counter()
    try:
        yield
    finally:
        CALL_DURATION.labels(target).observe(time.perf_counter() - t0)
