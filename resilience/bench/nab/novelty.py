"""Shape novelty for :class:`~resilience.bench.nab.NabDetector` (causal: uses the past only).

The *novelty* of the latest ``dim`` values is their Euclidean distance to the nearest earlier
``dim``-long stretch of the stream (a left "matrix profile" on raw values), divided by a high quantile of
the novelties seen so far. A surprise whose shape the stream has already shown (a daily backup spike, the
edge of a square wave seen yesterday) has a novelty well below 1 and is damped; a shape never seen before
keeps its score. Only stretches ending at least ``dim`` rows ago are compared, so a slow ramp is not
matched with itself shifted by one row.
"""

from __future__ import annotations

import bisect
import math
from collections import deque

import numpy as np


def nearest_distance(past: deque[float], x: float, dim: int) -> float | None:
    """Distance of the last ``dim`` values of ``past + [x]`` to the closest earlier, non-overlapping
    stretch of ``past``."""
    n = len(past) + 1
    n_past = n - 2 * dim + 1  # stretches ending at least ``dim`` rows before x
    if n_past <= 0:
        return None
    h = np.empty(n)
    h[:-1] = np.fromiter(past, dtype=float, count=n - 1)
    h[-1] = x
    q = h[n - dim :]
    d = np.zeros(n_past)
    for k in range(dim):
        diff = h[k : k + n_past] - q[k]
        d += diff * diff
    return math.sqrt(float(d.min()))


def novelty_ratio(dist: float, sorted_past: list[float], quantile: float) -> float:
    """``dist`` over the ``quantile`` of the past distances (inf when that quantile is 0 and dist > 0)."""
    ref = sorted_past[int(quantile * (len(sorted_past) - 1))]
    if ref > 0.0:
        return dist / ref
    return math.inf if dist > 0.0 else 0.0


def remember(dist: float, recent: deque[float], sorted_past: list[float], window: int) -> None:
    """Add ``dist`` to the rolling history of distances (kept both in order of arrival and sorted)."""
    recent.append(dist)
    bisect.insort(sorted_past, dist)
    if len(recent) > window:
        old = recent.popleft()
        del sorted_past[bisect.bisect_left(sorted_past, old)]
