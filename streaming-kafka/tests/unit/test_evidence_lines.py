"""Part C's scenario evidence says what the run measured: the lag test's closing line follows the samples."""
import pytest

from streaming_kafka.lab.evidence.scenarios import _lag_over_time
from streaming_kafka.lab.scenarios import LagOverTime, LagSample

pytestmark = pytest.mark.unit


def _lag(lags: list[int]) -> LagOverTime:
    phases = ["stopped"] * (len(lags) // 2) + ["started"] * (len(lags) - len(lags) // 2)
    return LagOverTime(count=5000, mode="stop", samples=[LagSample(i * 0.5, n, 0, ph)
                                                          for i, (n, ph) in enumerate(zip(lags, phases, strict=True))])


def test_caught_up_only_when_the_last_sample_is_at_lag_0():
    """It said "it caught up once it was back to normal" whatever the final lag was."""
    behind = _lag_over_time(_lag([0, 2500, 5000, 5000, 4000, 3100]))[-1]
    assert "caught up" not in behind.replace("NOT caught up", "") and "3100 events behind" in behind
    assert "caught up (lag 0)" in _lag_over_time(_lag([0, 2500, 5000, 5000, 1200, 0]))[-1]
