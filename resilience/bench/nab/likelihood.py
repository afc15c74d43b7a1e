"""Anomaly-likelihood helpers for :class:`~resilience.bench.nab.NabDetector`.

Written from the published description of Numenta's anomaly likelihood (Ahmad et al. 2017): the short
rolling mean of an anomaly score is compared with a Gaussian fitted, every so often, to the rolling means
seen over a long history. A burst of moderately high scores that is unusual *for this stream* thus
becomes one confident score. The tail probability is put on a log scale so that 1e-10 (or rarer) scores 1.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

LOG_FLOOR = 1e-10


def tail_probability(x: float, mean: float, sd: float) -> float:
    """P(X >= x) for X ~ N(mean, sd^2), without cancellation far in the tail."""
    return 0.5 * math.erfc((x - mean) / (sd * math.sqrt(2.0)))


def log_score(tail: float) -> float:
    """Map a tail probability onto [0, 1]: 1 -> 0, 1e-10 or rarer -> 1."""
    return min(1.0, max(0.0, math.log(tail + LOG_FLOOR) / math.log(LOG_FLOOR)))


def estimate_normal(values: Iterable[float], min_mean: float = 0.03, min_var: float = 0.0003) -> tuple[float, float]:
    """Mean and standard deviation of ``values``, with lower bounds so that a quiet history does not make
    every small wobble look infinitely unlikely."""
    n = 0
    s = 0.0
    sq = 0.0
    for v in values:
        n += 1
        s += v
        sq += v * v
    if n == 0:
        return min_mean, math.sqrt(min_var)
    mean = s / n
    var = max(sq / n - mean * mean, 0.0)
    return max(mean, min_mean), math.sqrt(max(var, min_var))
