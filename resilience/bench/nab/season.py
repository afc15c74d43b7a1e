"""Online period detection for :class:`~resilience.bench.nab.NabDetector` (causal: uses the past only)."""

from __future__ import annotations

import numpy as np


def detect_period(values: list[float], min_lag: int = 4, min_acf: float = 0.3, min_cycles: int = 3) -> int:
    """The lag (in rows) of the strongest autocorrelation peak of ``values``, or 0 if none is convincing.

    Peaks are searched beyond the first zero crossing of the autocorrelation. A peak is a lag whose
    autocorrelation is a local maximum, at least ``min_acf``, and short enough that ``values`` holds
    ``min_cycles`` full periods.
    """
    x = np.asarray(values, dtype=float)
    n = len(x)
    max_lag = n // min_cycles
    if max_lag <= min_lag + 1:
        return 0
    x = x - x.mean()
    denom = float(np.dot(x, x))
    if denom <= 0.0:
        return 0
    size = 1 << (2 * n - 1).bit_length()
    f = np.fft.rfft(x, size)
    acf = np.fft.irfft(f * np.conj(f), size)[: max_lag + 2] / denom
    below = np.nonzero(acf[1 : max_lag + 1] < 0.0)[0]
    if len(below) == 0:
        return 0
    start = max(min_lag, int(below[0]) + 1)  # search beyond the first zero crossing (the trivial peak at 0)
    if start > max_lag:
        return 0
    lags = np.arange(start, max_lag + 1)
    a = acf[lags]
    peak = (a >= acf[lags - 1]) & (a >= acf[lags + 1]) & (a >= min_acf)
    if not peak.any():
        return 0
    cand = lags[peak]
    return int(cand[np.argmax(acf[cand])])
