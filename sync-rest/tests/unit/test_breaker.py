import pytest

from sync_rest.order_service.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


@pytest.fixture
def clock():
    return Clock()


def test_opens_after_threshold_consecutive_failures(clock):
    b = CircuitBreaker(3, 10, clock)
    for _ in range(2):
        assert b.allow()
        b.failure()
    b.success()  # a success resets the count
    for _ in range(3):
        assert b.allow()
        b.failure()
    assert b.snapshot().state == OPEN and not b.allow()


def test_half_open_allows_one_probe_then_closes(clock):
    changes = []
    b = CircuitBreaker(1, 10, clock, on_change=lambda o, n: changes.append((o, n)))
    b.failure()
    clock.t = 9.9
    assert not b.allow() and b.snapshot().retry_after_s == pytest.approx(0.1)
    clock.t = 10.0
    assert b.allow()  # the probe
    assert b.snapshot().state == HALF_OPEN and not b.allow()  # only one probe at a time
    b.success()
    assert b.snapshot().state == CLOSED and b.allow()
    assert changes == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED)]


def test_failed_probe_reopens_for_a_full_cool_down(clock):
    b = CircuitBreaker(2, 5, clock)
    b.failure()
    b.failure()
    clock.t = 5
    assert b.allow()
    b.failure()
    assert b.snapshot().state == OPEN and b.snapshot().retry_after_s == 5
    clock.t = 9.9
    assert not b.allow()


def test_call_counts_any_exception_as_a_failure_and_reraises_it(clock):
    b = CircuitBreaker(1, 10, clock)
    b.failure()
    clock.t = 10
    with pytest.raises(KeyError):
        b.call(lambda: {}["missing"])  # the probe raises something nobody expected
    assert b.snapshot().state == OPEN  # not stuck in half_open
    clock.t = 20
    assert b.call(lambda: 7) == 7 and b.snapshot().state == CLOSED


def test_call_uses_ok_to_judge_results_and_refuses_while_open(clock):
    from sync_rest.order_service.breaker import CircuitOpen

    b = CircuitBreaker(2, 10, clock)
    for _ in range(2):
        assert b.call(lambda: "bad", ok=lambda r: r == "good") == "bad"
    with pytest.raises(CircuitOpen):
        b.call(lambda: "good")


def test_a_probe_that_never_reports_stops_blocking_after_probe_timeout(clock):
    b = CircuitBreaker(1, 10, clock, probe_timeout_s=6)
    b.failure()
    clock.t = 10
    assert b.allow()  # the probe starts, and its thread is lost: it never reports
    clock.t = 15.9
    assert not b.allow()
    clock.t = 16
    assert b.allow()
