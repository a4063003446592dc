"""Log-scale histograms of durations, summed across days (the provider scorecard).

Bucket 0 holds durations under one second (and negative ones: clock skew); bucket
i ≥ 1 holds [2^((i-1)/8), 2^(i/8)) seconds; the last bucket also holds everything
longer (2^(198/8) s is about 30 years). A percentile is read as the geometric
middle of the bucket the rank falls in, so for durations of a second or more it is
within 2^(1/16) - 1 = 4.4 % of the exact (nearest-rank) value; under a second it
is reported as 0.5 s. Histograms are stored sparse ({"bucket": count}) in JSON.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

STEPS_PER_DOUBLING = 8
BUCKETS = 200
RELATIVE_ERROR = 2 ** (1 / (2 * STEPS_PER_DOUBLING)) - 1

Histogram = dict[str, int]


def bucket_of(seconds: float) -> int:
    """The bucket a duration falls in (the same rule as the SQL in services.scorecard)."""
    if seconds < 1:
        return 0
    return min(BUCKETS - 1, 1 + math.floor(math.log(seconds) * STEPS_PER_DOUBLING / math.log(2)))


def bucket_value(bucket: int) -> float:
    """The duration a bucket stands for: its geometric middle (0.5 s for bucket 0)."""
    if bucket == 0:
        return 0.5
    return float(2 ** ((bucket - 0.5) / STEPS_PER_DOUBLING))


def merge(histograms: Iterable[Mapping[str, int]]) -> dict[int, int]:
    """Bucket → count, summed over the histograms."""
    total: dict[int, int] = {}
    for histogram in histograms:
        for bucket, count in histogram.items():
            key = int(bucket)
            total[key] = total.get(key, 0) + count
    return total


def count(histogram: Mapping[int, int]) -> int:
    return sum(histogram.values())


def percentile(histogram: Mapping[int, int], q: float) -> float | None:
    """The nearest-rank q-quantile (0 < q ≤ 1) in seconds, or None for an empty histogram."""
    n = count(histogram)
    if n == 0:
        return None
    rank = max(1, math.ceil(q * n))
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return bucket_value(bucket)
    return bucket_value(max(histogram))  # pragma: no cover - rank ≤ n always lands above
