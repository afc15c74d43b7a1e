"""Anomaly-likelihood post-processing (after Ahmad et al. 2017, written from the published description).

A raw anomaly score is noisy: a detector that is often a little surprised looks the same as one that is
rarely very surprised. The likelihood step models the *distribution* of a short rolling mean of recent raw
scores as a Gaussian (re-estimated periodically over a long history) and reports how improbable the
current rolling mean is. The tail probability is mapped onto [0, 1] on a log scale so that a one-in-ten-
billion event scores 1 and a typical row scores near 0.
"""

from __future__ import annotations

import math

LOG_FLOOR = 1e-10


def tail_probability(x: float, mean: float, sd: float) -> float:
    """P(X >= x) for X ~ N(mean, sd^2), computed without cancellation for large x."""
    return 0.5 * math.erfc((x - mean) / (sd * math.sqrt(2.0)))


def log_score(tail: float) -> float:
    """Map a tail probability onto [0, 1]: 1e-10 (or rarer) -> 1, 1 -> 0."""
    return min(1.0, max(0.0, math.log(tail + LOG_FLOOR) / math.log(LOG_FLOOR)))


def estimate_normal(values, min_mean: float, min_var: float) -> tuple[float, float]:
    """Mean and standard deviation of ``values`` with lower bounds (a near-constant history is not
    allowed to make every tiny wobble look infinitely unlikely)."""
    n = len(values)
    if n == 0:
        return min_mean, math.sqrt(min_var)
    s = 0.0
    sq = 0.0
    for v in values:
        s += v
        sq += v * v
    mean = s / n
    var = max(sq / n - mean * mean, 0.0)
    return max(mean, min_mean), math.sqrt(max(var, min_var))
