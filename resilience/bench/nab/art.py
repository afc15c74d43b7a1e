"""Fuzzy-ART category memory for :class:`~resilience.bench.nab.NabDetector` (causal: past only).

The idea of ARTime (adaptive resonance theory on time-series windows), written from its description:
the last ``dim`` block means of ``scale`` rows each form an input vector. Each *category* is a hyperbox
``[lo, hi]`` in value units; with complement coding, the fuzzy-ART match of an input ``x`` against a
category is ``1 - size(box grown to include x)``, where size is the L1 width over ``dim`` times the value
range seen so far (so the range may grow without rescaling the stored boxes). The input resonates with the
best-chosen category whose match is at least the vigilance ``rho``; that box then grows towards ``x`` by
the learning rate ``beta``. Otherwise ``x`` founds a new category (the least recently used one is
recycled once ``cap`` exist, so the cost stays O(cap * dim) per row).

The signal kept for scoring is the *category distance* ``1 - best match`` before learning: how much the
nearest known category would have to grow to admit the input. :class:`NabDetector` compares it with a high
quantile of its own history (a vigilance that adapts to each stream's novelty rate).
"""

from __future__ import annotations

from collections import deque

import numpy as np

_ALPHA = 1e-3  # choice parameter of fuzzy ART (small: prefer the category that needs least growth)


def block_means(recent: deque[float], x: float, scale: int, dim: int) -> np.ndarray | None:
    """The last ``dim`` means of ``scale`` consecutive values of ``recent + [x]`` (None if too short)."""
    need = scale * dim
    if len(recent) + 1 < need:
        return None
    h = np.empty(need)
    h[:-1] = list(recent)[len(recent) - need + 1 :] if need > 1 else []
    h[-1] = x
    return h.reshape(dim, scale).mean(axis=1)


def category_distance(lo: np.ndarray, hi: np.ndarray, x: np.ndarray, value_range: float) -> np.ndarray:
    """``1 - match`` of ``x`` with every category: the normalised size of each box grown to include x."""
    dim = x.shape[0]
    return (np.maximum(hi, x) - np.minimum(lo, x)).sum(axis=1) / (max(value_range, 1e-12) * dim)


def resonate(lo: np.ndarray, hi: np.ndarray, x: np.ndarray, value_range: float, rho: float) -> tuple[float, int]:
    """(category distance of the nearest box, index of the resonating category or -1 for a new one)."""
    if lo.shape[0] == 0:
        return 1.0, -1
    dist = category_distance(lo, hi, x, value_range)
    match = 1.0 - dist
    ok = match >= rho
    if not ok.any():
        return float(dist.min()), -1
    own = (hi - lo).sum(axis=1) / (max(value_range, 1e-12) * x.shape[0])
    choice = np.where(ok, match / (_ALPHA + 1.0 - own), -1.0)
    return float(dist.min()), int(choice.argmax())


def learn(
    lo_rows: list[list[float]],
    hi_rows: list[list[float]],
    used: list[int],
    x: np.ndarray,
    j: int,
    beta: float,
    cap: int,
    t: int,
) -> int:
    """Grow category ``j`` towards ``x`` by ``beta`` (or found a new one when ``j < 0``), in place; returns
    the index of the row written."""
    if j >= 0:
        lo = np.asarray(lo_rows[j])
        hi = np.asarray(hi_rows[j])
        lo_rows[j] = (lo + beta * (np.minimum(lo, x) - lo)).tolist()
        hi_rows[j] = (hi + beta * (np.maximum(hi, x) - hi)).tolist()
        used[j] = t
        return j
    row = x.tolist()
    if len(lo_rows) >= cap:
        k = min(range(len(used)), key=used.__getitem__)  # recycle the least recently used category
        lo_rows[k], hi_rows[k], used[k] = row, list(row), t
        return k
    lo_rows.append(row)
    hi_rows.append(list(row))
    used.append(t)
    return len(lo_rows) - 1
