"""Percentiles and the one-line summaries the report prints."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0-100) with linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True, slots=True)
class Summary:
    """Median, p90, p99 and max of a sample."""

    count: int
    median: float
    p90: float
    p99: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        return cls(
            len(values),
            percentile(values, 50),
            percentile(values, 90),
            percentile(values, 99),
            max(values) if values else math.nan,
        )

    def scaled(self, factor: float) -> Summary:
        """The same summary in another unit (seconds -> ms: 1000)."""
        return Summary(
            self.count,
            self.median * factor,
            self.p90 * factor,
            self.p99 * factor,
            self.max * factor,
        )


def ratio(ours: float, floor: float) -> float:
    """ours / floor, NaN when the floor is zero or missing."""
    return ours / floor if floor and not math.isnan(floor) else math.nan
