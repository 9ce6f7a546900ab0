"""Latency statistics for scenario results and benchmarks (pure)."""
from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Summary:
    n: int
    min: float
    max: float
    mean: float
    median: float
    p95: float
    p99: float
    stdev: float

    def as_dict(self) -> dict:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(self).items()}


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile, q in [0, 100]."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summarize(values: list[float]) -> Summary:
    if not values:
        raise ValueError("no values to summarize")
    return Summary(
        n=len(values), min=min(values), max=max(values), mean=statistics.fmean(values),
        median=statistics.median(values), p95=percentile(values, 95), p99=percentile(values, 99),
        stdev=statistics.stdev(values) if len(values) > 1 else 0.0,
    )
