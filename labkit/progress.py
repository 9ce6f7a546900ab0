"""The longest time without progress after a fault: the failover scenarios' "time until work flows again" (pure).

Both parts hand it the times progress was seen: Part B the times orders reached a final state, Part C the samples at
which the count of processed events grew.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import NamedTuple


class Pause(NamedTuple):
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


def longest_pause(progress: Iterable[float], since: float, until: float = math.inf) -> Pause:
    """The longest interval without progress that begins in [since, until): it begins at `since` (a pause under
    way then counts from it) or at a progress time, and ends at the next progress time, which may lie after
    `until` (a pause that began while a node was down and ended once it was back). Of equal ones, the first.
    With no progress after `since`, the empty Pause(since, since): callers wait for the work to finish first."""
    points = [since, *sorted(t for t in progress if t >= since)]
    best = Pause(since, since)
    for a, b in zip(points, points[1:], strict=False):
        if a < until and b - a > best.seconds:
            best = Pause(a, b)
    return best
