"""Part B's scenario evidence says what the run measured: whether the client waited for a slowed inventory."""
import pytest

from async_rabbitmq.lab import scenarios as sc
from async_rabbitmq.lab.evidence.scenarios import _delay_effect
from labkit.stats import summarize

pytestmark = pytest.mark.unit


def _delay(accept_ms: list[float]) -> sc.Delay:
    return sc.Delay(delay_ms=500, statuses=[202] * len(accept_ms), accept_ms=summarize(accept_ms),
                    counts={"confirmed": len(accept_ms)}, seconds_to_all_final=2.6)


def test_the_delay_line_follows_the_202_latency():
    """It said "the client never waits for inventory" whatever the 202s' latency was."""
    assert "the client did not wait for inventory" in _delay_effect(_delay([8.1, 9.0, 12.4]))
    waited = _delay_effect(_delay([8.1, 9.0, 512.4]))
    assert "512.4 ms" in waited and "a client waited for inventory" in waited and "did not wait" not in waited
