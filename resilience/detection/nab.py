"""NabDetector: one configuration for any univariate stream (NAB benchmark and ``resilience detect``).

Why this shape: NAB (and a duty officer) rewards the *first* sign of an incident and punishes repeated
alarms. So the detector

1. measures surprise at several time scales as z-scores of features against each feature's own rolling
   distribution: the value, short trailing means of the value, the step from the previous value, the
   residual against what followed similar recent contexts (nearest neighbours), and the residual against
   the value one detected season ago (period found online from the autocorrelation);
2. calibrates each feature's surprise against *its own history of surprises*: a z-score the stream
   produces every day (a noisy Twitter count, the edge of a daily square wave) is discounted by how many
   times it was reached or exceeded in the recent past, so only surprises that are rare *for this
   stream* score high;
3. takes the largest calibrated surprise and, after a detection, damps its output for a while
   proportional to the stream length seen so far, so one incident gives one alarm.

The output is monotone-mapped so that 0.5 is the alarm level. Everything is causal: the score of row i
uses rows <= i only.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from datetime import datetime

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from resilience.detection.base import Detector
from resilience.detection.nab_season import detect_period


class NabDetector(Detector):
    """Multi-feature rolling z-scores, self-calibrated per stream, with post-detection suppression.

    Parameters
    ----------
    window
        Rows in the rolling reference distribution of every feature.
    scales
        Lengths of the trailing means used as features (1 = the raw value).
    use_diff
        Also score the step from the previous value.
    z_half
        Surprise (in standard deviations) that maps to half of the uncalibrated scale.
    suppress_fraction
        After a detection, damp scores for this fraction of the rows seen so far.
    damp
        Factor applied to scores while damped (small, so ranking is kept but alarms stop).
    grace_period
        Rows learned before scoring.
    knn_window, knn_dim, knn_k
        Context feature: the residual of ``x`` against the median successor of the ``knn_k`` most similar
        ``knn_dim``-long contexts among the last ``knn_window`` rows (0 disables it).
    season_window
        Rows kept to find a period online (0 disables the seasonal feature). The seasonal feature is the
        residual of ``x`` against the median of the values one, two and three periods ago.
    season_every
        Re-estimate the period every this many rows.
    calib_window, calib_k
        A feature's surprise is divided by ``1 + c / calib_k`` where ``c`` counts the rows among the last
        ``calib_window`` whose surprise on that feature was at least as large (0 disables calibration).
    alarm
        Calibrated score that counts as a detection (starts the suppression); mapped to 0.5 on output.

    Examples
    --------
    >>> det = NabDetector(grace_period=20)
    >>> for i in range(300):
    ...     det.learn_one(10.0 + (i % 7) * 0.1, float(i))
    >>> det.score_one(10.6, 300.0) < 0.5 < det.score_one(25.0, 300.0)  # 10.6 continues the pattern
    True
    """

    name = "nab"

    def __init__(self, window: int = 3000, scales: tuple[int, ...] = (1, 5, 20), use_diff: bool = True,
                 z_half: float = 8.0, suppress_fraction: float = 0.04, damp: float = 0.01,
                 grace_period: int = 20, knn_window: int = 300, knn_dim: int = 3, knn_k: int = 5,
                 season_window: int = 3000, season_every: int = 250, calib_window: int = 8640,
                 calib_k: float = 5.0, calib_tol: float = 0.1, alarm: float = 0.25,
                 breakthrough: float = 2.0, vol_scales: tuple[int, ...] = ()) -> None:
        self.window = window
        self.scales = scales
        self.use_diff = use_diff
        self.z_half = z_half
        self.suppress_fraction = suppress_fraction
        self.damp = damp
        self.grace_period = grace_period
        self.knn_window = knn_window
        self.knn_dim = knn_dim
        self.knn_k = knn_k
        self.season_window = season_window
        self.season_every = season_every
        self.calib_window = calib_window
        self.calib_k = calib_k
        self.calib_tol = calib_tol
        self.alarm = alarm
        self.breakthrough = breakthrough
        self.vol_scales = vol_scales
        self._reset()

    def _n_features(self) -> int:
        return (len(self.scales) + (1 if self.use_diff else 0) + (1 if self.knn_window else 0)
                + (1 if self.season_window else 0) + len(self.vol_scales))

    def _reset(self) -> None:
        n_feat = self._n_features()
        self.recent_: deque[float] = deque(maxlen=max((*self.scales, *self.vol_scales)))
        self.context_: deque[float] = deque(maxlen=self.knn_window + self.knn_dim + 1 if self.knn_window else 1)
        self.long_: deque[float] = deque(maxlen=max(self.season_window, 1))
        self.period_ = 0
        self.feat_hist_: list[deque[float]] = [deque() for _ in range(n_feat)]
        self.feat_sum_: list[float] = [0.0] * n_feat
        self.feat_sq_: list[float] = [0.0] * n_feat
        self.z_hist_: list[deque[float]] = [deque() for _ in range(n_feat)]
        self.z_sorted_: list[list[float]] = [[] for _ in range(n_feat)]
        self.prev_: float | None = None
        self.lo_: float | None = None
        self.hi_: float | None = None
        self.n_ = 0
        self.suppress_ = 0
        self.trigger_ = 0.0

    # -- features ------------------------------------------------------------------------------------
    def _features(self, x: float) -> list[float | None]:
        recent = list(self.recent_) + [x]
        out: list[float | None] = []
        for k in self.scales:
            out.append(sum(recent[-k:]) / k if len(recent) >= k else None)
        if self.use_diff:
            out.append(x - self.prev_ if self.prev_ is not None else None)
        if self.knn_window:
            out.append(self._knn_residual(x))
        if self.season_window:
            out.append(self._season_residual(x))
        for k in self.vol_scales:
            if len(recent) >= k:
                tail = recent[-k:]
                mu = sum(tail) / k
                out.append(math.sqrt(max(sum((v - mu) ** 2 for v in tail) / k, 0.0)))
            else:
                out.append(None)
        return out

    def _knn_residual(self, x: float) -> float | None:
        """x minus what followed the most similar recent contexts (learns repeating shapes)."""
        m = self.knn_dim
        n = len(self.context_)
        if n < m + self.knn_k + 1:
            return None
        h = np.fromiter(self.context_, dtype=float, count=n)
        windows = sliding_window_view(h[:-1], m)  # contexts that have a successor
        dist = np.abs(windows - h[-m:]).sum(axis=1)
        k = self.knn_k
        idx = np.argpartition(dist, k)[:k]
        return x - float(np.median(h[idx + m]))

    def _season_residual(self, x: float) -> float | None:
        """x minus the median of the values one, two and three detected periods ago."""
        p = self.period_
        n = len(self.long_)
        if p <= 0 or n < p:
            return None
        past = [self.long_[n - j * p] for j in (1, 2, 3) if n - j * p >= 0]
        past.sort()
        return x - past[len(past) // 2]

    # -- scoring -------------------------------------------------------------------------------------
    def _floor(self) -> float:
        """Smallest standard deviation a feature may have: a tiny fraction of the range seen so far."""
        if self.lo_ is None or self.hi_ is None:
            return 1e-9
        return max(1e-9, 1e-3 * (self.hi_ - self.lo_))

    def _zs(self, feats: list[float | None]) -> list[float | None]:
        floor = self._floor()
        out: list[float | None] = []
        for j, v in enumerate(feats):
            hist = self.feat_hist_[j]
            m = len(hist)
            if v is None or m < self.grace_period:
                out.append(None)
                continue
            mean = self.feat_sum_[j] / m
            var = self.feat_sq_[j] / m - mean * mean
            sd = max(math.sqrt(var) if var > 0 else 0.0, floor)
            out.append(abs(v - mean) / sd)
        return out

    def _calibrated(self, zs: list[float | None]) -> float:
        best = 0.0
        for j, z in enumerate(zs):
            if z is None:
                continue
            s = z / (z + self.z_half)
            if self.calib_window:
                srt = self.z_sorted_[j]
                c = len(srt) - bisect.bisect_left(srt, z * (1.0 - self.calib_tol))
                s /= 1.0 + c / self.calib_k
            best = max(best, s)
        return best

    def _step(self, x: float, commit: bool) -> float:
        feats = self._features(x)
        zs = self._zs(feats)
        score = self._calibrated(zs)
        if self.suppress_ > 0 and not (self.breakthrough and score >= self.breakthrough * self.trigger_):
            score *= self.damp
            if commit:
                self.suppress_ -= 1
        elif commit and score >= self.alarm:
            self.suppress_ = max(1, int(self.suppress_fraction * (self.n_ + 1)))
            self.trigger_ = score
        if commit:
            self._learn(x, feats, zs)
        return min(1.0, score)

    def _learn(self, x: float, feats: list[float | None], zs: list[float | None]) -> None:
        for j, v in enumerate(feats):
            if v is None:
                continue
            hist = self.feat_hist_[j]
            hist.append(v)
            self.feat_sum_[j] += v
            self.feat_sq_[j] += v * v
            if len(hist) > self.window:
                old = hist.popleft()
                self.feat_sum_[j] -= old
                self.feat_sq_[j] -= old * old
        if self.calib_window:
            for j, z in enumerate(zs):
                if z is None:
                    continue
                zh, srt = self.z_hist_[j], self.z_sorted_[j]
                zh.append(z)
                bisect.insort(srt, z)
                if len(zh) > self.calib_window:
                    old = zh.popleft()
                    del srt[bisect.bisect_left(srt, old)]
        self.recent_.append(x)
        if self.knn_window:
            self.context_.append(x)
        if self.season_window:
            self.long_.append(x)
            if (self.n_ + 1) % self.season_every == 0:
                self.period_ = detect_period(list(self.long_))
        self.lo_ = x if self.lo_ is None else min(self.lo_, x)
        self.hi_ = x if self.hi_ is None else max(self.hi_, x)
        self.prev_ = x
        self.n_ += 1

    def score_one(self, x: float, t: datetime | float) -> float:
        return self._step(x, commit=False)

    def learn_one(self, x: float, t: datetime | float) -> None:
        self._step(x, commit=True)

    def process_one(self, x: float, t: datetime | float) -> float:
        """Score then learn in one pass (what a backtest does on every row)."""
        return self._step(x, commit=True)
