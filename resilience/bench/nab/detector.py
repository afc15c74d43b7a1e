"""NabDetector: one configuration for any univariate stream (NAB benchmark and ``resilience detect``).

Why this shape: NAB (and a duty officer) rewards the *first* sign of an incident and punishes repeated
alarms. So the detector

1. measures surprise at several time scales as z-scores of features against each feature's own rolling
   distribution: the value, short trailing means of the value, the step from the previous value, the
   residual against what followed similar recent contexts (nearest neighbours), and the residual against
   the value one detected season ago (period found online from the autocorrelation);
2. calibrates each feature's surprise against *its own history of surprises*: a z-score the stream
   produces every day (a noisy Twitter count, the edge of a daily square wave) is discounted by how many
   times a similar one (within ``calib_tol``) was reached or exceeded in the recent past, so only
   surprises that are rare *for this stream* score high. While the stream is young its own history is
   short, so the missing part is filled with the counts a heavy-tailed (Student-t-like) stream would have
   produced; this stops the first few moderately large values of a new stream from looking unique;
3. takes the largest calibrated surprise, damped when the latest few rows repeat a shape the stream has
   already shown (their distance to the nearest earlier stretch is small compared with the usual such
   distance; see :mod:`resilience.bench.nab.novelty`), raised to half the *anomaly likelihood* of its recent mean
   when that is higher (a run of moderately surprising rows, unusual for this stream, becomes one
   confident score; see :mod:`resilience.bench.nab.likelihood`); conversely a shape farther from
   everything seen than (almost) any earlier one raises the score (a second opinion for slow or subtle
   changes that the z-scores miss), and so does an input that fits the stream's fuzzy-ART categories
   (hyperboxes of recent windows at two time scales) worse than (almost) any earlier input (see
   :mod:`resilience.bench.nab.art`);
4. raises the score when the stream repeats its last value for longer than it ever has before (a stuck
   sensor or a dead feed: see :mod:`resilience.bench.nab.flat`);
5. after a pre-alarm (score >= ``alarm``, 0.22), damps its
   output for a while proportional to the stream length seen so far, so one incident gives one alarm. A
   surprise at least ``breakthrough`` times the one that started the quiet period is not damped, so a
   mild pre-alarm cannot hide a real incident. A pre-alarm that repeats the gap between two recent ones
   (a nightly job) is damped instead and starts no quiet period.

0.5 is the alarm level for ``resilience detect``. Everything is causal: the score of row i uses rows <= i
only. There is no use of timestamps (rows are taken as evenly spaced).
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from datetime import datetime
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from resilience.detection.base import Detector
from resilience.bench.nab import art as nab_art
from resilience.bench.nab.flat import flat_step
from resilience.bench.nab.novelty import nearest_distance, novelty_ratio, remember
from resilience.bench.nab.likelihood import estimate_normal, log_score, tail_probability
from resilience.bench.nab.season import detect_period


_LK_MIN_SAMPLES = 100  # rolling means needed before the first likelihood estimate
_LK_REESTIMATE = 100  # rows between re-estimates of the likelihood's Gaussian


class NabDetector(Detector):
    """Multi-feature rolling z-scores, self-calibrated per stream, with post-detection suppression.

    Cost: about 200 µs per row with the defaults (measured on a shared 2-core machine).

    Parameters
    ----------
    window
        Rows in the rolling reference distribution of every feature.
    scales
        Lengths of the trailing means used as features (1 = the raw value).
    use_diff
        Also score the step from the previous value.
    z_half
        Surprise (in standard deviations) that scores 0.5 before calibration (``z / (z + z_half)``).
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
    calib_window, calib_k, calib_tol
        A feature's surprise is divided by ``1 + c / calib_k`` where ``c`` counts the rows among the last
        ``calib_window`` whose surprise on that feature was at least ``1 - calib_tol`` times as large
        (0 disables calibration).
    prior_rows, prior_nu
        While fewer than ``prior_rows`` surprises are stored, ``c`` also gets the expected count of the
        missing rows under a tail ``(1 + z^2 / prior_nu) ** (-prior_nu / 2)``.
    likelihood_weight, likelihood_avg, likelihood_history, likelihood_learn
        The score is raised to ``likelihood_weight`` times the log-scaled likelihood of the mean of the last
        ``likelihood_avg`` calibrated scores, judged against a Gaussian fitted (every 100 rows) to the
        rolling means of the last ``likelihood_history`` rows, after ``likelihood_learn`` rows
        (0 disables it).
    alarm
        Calibrated score that starts the quiet period (a pre-alarm; the output alarm level is 0.5).
    breakthrough
        During the quiet period a score at least this multiple of the triggering score is not damped
        (0 damps everything).
    novelty_dim, novelty_window, novelty_history, novelty_quantile, novelty_power, novelty_min
        Shape novelty: the distance of the last ``novelty_dim`` values to the nearest earlier stretch
        among the last ``novelty_window`` rows, over the ``novelty_quantile`` of that distance in the last
        ``novelty_history`` rows. Below 1 it multiplies the calibrated score by
        ``novelty ** novelty_power``, once ``novelty_min`` distances are known (``novelty_dim=0``
        disables it).
    novelty_raise, novelty_raise_quantile
        Shape novelty as a second opinion (the idea of ARTime's new-category alarm): when that distance
        exceeds the ``novelty_raise_quantile`` of its history by a fraction ``e``, the score is raised to
        at least ``novelty_raise * min(1, e)`` (before the likelihood; 0 disables it).
    art_scales, art_dim, art_rho, art_beta, art_cap
        Fuzzy-ART memories, one per scale: inputs are the last ``art_dim`` means of ``scale`` rows,
        categories are hyperboxes admitted at vigilance ``art_rho`` and grown with learning rate
        ``art_beta``, at most ``art_cap`` per scale (the least recently used is recycled).
    recur_depth, recur_tol, recur_atol
        An alarm whose distance to one of the last ``recur_depth`` alarms equals (within
        ``max(recur_atol, recur_tol * gap)`` rows) the gap between that alarm and one of the
        ``recur_depth`` alarms before it repeats a rhythm (a nightly job); it is damped and starts no quiet
        period (``recur_depth=0`` disables this).
    flat_min, flat_factor, flat_raise
        Record flat run (see :mod:`resilience.bench.nab.flat`): on the row where the current run of
        values equal to their predecessor reaches ``flat_min`` and exceeds ``flat_factor`` times the
        longest earlier run, the score is raised to at least ``flat_raise`` (0 disables it).
    art_raise, art_quantile, art_span
        When an input's category distance (how much the nearest category must grow to admit it) exceeds
        the ``art_quantile`` of its history (``novelty_history`` rows, after ``novelty_min``) by a fraction
        ``e``, the score is raised to at least ``art_raise * min(1, e / art_span)`` (0 disables it).

    Examples
    --------
    >>> det = NabDetector(grace_period=20)
    >>> for i in range(300):
    ...     det.learn_one(10.0 + (i % 7) * 0.1, float(i))
    >>> det.score_one(10.6, 300.0) < 0.5 < det.score_one(25.0, 300.0)  # 10.6 continues the pattern
    True
    """

    name = "nab"

    def __init__(
        self,
        window: int = 3000,
        scales: tuple[int, ...] = (1, 5, 20),
        use_diff: bool = True,
        z_half: float = 8.0,
        suppress_fraction: float = 0.042,
        damp: float = 0.01,
        grace_period: int = 20,
        knn_window: int = 300,
        knn_dim: int = 3,
        knn_k: int = 5,
        season_window: int = 3000,
        season_every: int = 250,
        calib_window: int = 8640,
        calib_k: float = 5.0,
        calib_tol: float = 0.1,
        prior_rows: int = 2000,
        prior_nu: float = 10.0,
        likelihood_weight: float = 0.5,
        likelihood_avg: int = 5,
        likelihood_history: int = 8640,
        likelihood_learn: int = 288,
        alarm: float = 0.22,
        breakthrough: float = 2.0,
        novelty_dim: int = 8,
        novelty_window: int = 4000,
        novelty_history: int = 8640,
        novelty_quantile: float = 0.9,
        novelty_power: float = 0.5,
        novelty_min: int = 50,
        novelty_raise: float = 0.4,
        novelty_raise_quantile: float = 0.99,
        art_scales: tuple[int, ...] = (1, 4),
        art_dim: int = 8,
        art_rho: float = 0.95,
        art_beta: float = 0.3,
        art_cap: int = 200,
        art_raise: float = 0.5,
        art_quantile: float = 0.99,
        art_span: float = 0.5,
        flat_min: int = 30,
        flat_factor: float = 1.2,
        flat_raise: float = 0.5,
        recur_depth: int = 2,
        recur_tol: float = 0.01,
        recur_atol: int = 5,
    ) -> None:
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
        self.prior_rows = prior_rows
        self.prior_nu = prior_nu
        self.likelihood_weight = likelihood_weight
        self.likelihood_avg = likelihood_avg
        self.likelihood_history = likelihood_history
        self.likelihood_learn = likelihood_learn
        self.breakthrough = breakthrough
        self.novelty_dim = novelty_dim
        self.novelty_window = novelty_window
        self.novelty_history = novelty_history
        self.novelty_quantile = novelty_quantile
        self.novelty_power = novelty_power
        self.novelty_min = novelty_min
        self.novelty_raise = novelty_raise
        self.novelty_raise_quantile = novelty_raise_quantile
        self.art_scales = art_scales
        self.art_dim = art_dim
        self.art_rho = art_rho
        self.art_beta = art_beta
        self.art_cap = art_cap
        self.art_raise = art_raise
        self.art_quantile = art_quantile
        self.art_span = art_span
        self.flat_min = flat_min
        self.flat_factor = flat_factor
        self.flat_raise = flat_raise
        self.recur_depth = recur_depth
        self.recur_tol = recur_tol
        self.recur_atol = recur_atol
        self._reset()

    def _n_features(self) -> int:
        return (
            len(self.scales)
            + (1 if self.use_diff else 0)
            + (1 if self.knn_window else 0)
            + (1 if self.season_window else 0)
        )

    def _reset(self) -> None:
        n_feat = self._n_features()
        self.recent_: deque[float] = deque(maxlen=max(self.scales))
        ctx_len = self.knn_window + self.knn_dim + 1 if self.knn_window else 1
        self.context_: deque[float] = deque(maxlen=ctx_len)
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
        self.lk_buf_: deque[float] = deque(maxlen=max(self.likelihood_avg, 1))
        self.lk_hist_: deque[float] = deque(maxlen=max(self.likelihood_history, 1))
        self.lk_dist_: tuple[float, float] | None = None
        self.lk_since_ = 0
        self.nov_past_: deque[float] = deque(maxlen=max(self.novelty_window + self.novelty_dim - 1, 1))
        self.nov_recent_: deque[float] = deque()
        self.nov_sorted_: list[float] = []
        n_art = len(self.art_scales) if self.art_raise else 0
        self.art_recent_: deque[float] = deque(maxlen=max([s * self.art_dim for s in self.art_scales] + [1]))
        self.art_lo_: list[list[list[float]]] = [[] for _ in range(n_art)]
        self.art_hi_: list[list[list[float]]] = [[] for _ in range(n_art)]
        self.art_used_: list[list[int]] = [[] for _ in range(n_art)]
        self.art_dist_recent_: list[deque[float]] = [deque() for _ in range(n_art)]
        self.art_dist_sorted_: list[list[float]] = [[] for _ in range(n_art)]
        self._art_cache: list[tuple[np.ndarray, np.ndarray]] | None = None
        self.flat_run_ = 0
        self.flat_best_ = 0
        self.flat_changed_ = False
        self.flat_fired_ = False
        self.alarm_rows_: list[int] = []

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self._art_cache = None  # rebuilt from the restored category lists

    def _art_arrays(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self._art_cache is None:
            self._art_cache = [
                (
                    np.array(lo, dtype=float).reshape(-1, self.art_dim),
                    np.array(hi, dtype=float).reshape(-1, self.art_dim),
                )
                for lo, hi in zip(self.art_lo_, self.art_hi_, strict=True)
            ]
        return self._art_cache[k]

    def _art(self, x: float, commit: bool) -> float:
        """Raise from the fuzzy-ART memories: the category distance over its own high quantile."""
        lo_v = x if self.lo_ is None else min(self.lo_, x)
        hi_v = x if self.hi_ is None else max(self.hi_, x)
        out = 0.0
        for k, scale in enumerate(self.art_scales):
            inp = nab_art.block_means(self.art_recent_, x, scale, self.art_dim)
            if inp is None:
                continue
            lo, hi = self._art_arrays(k)
            dist, j = nab_art.resonate(lo, hi, inp, hi_v - lo_v, self.art_rho)
            srt = self.art_dist_sorted_[k]
            if len(srt) >= self.novelty_min:
                ref = srt[int(self.art_quantile * (len(srt) - 1))]
                excess = dist / ref - 1.0 if ref > 0.0 else (math.inf if dist > 0.0 else 0.0)
                out = max(out, self.art_raise * min(1.0, max(0.0, excess / self.art_span)))
            if commit:
                if lo.shape[0]:
                    remember(dist, self.art_dist_recent_[k], srt, self.novelty_history)
                r = nab_art.learn(
                    self.art_lo_[k], self.art_hi_[k], self.art_used_[k], inp, j, self.art_beta, self.art_cap, self.n_
                )
                row_lo = np.asarray(self.art_lo_[k][r])
                row_hi = np.asarray(self.art_hi_[k][r])
                if r == lo.shape[0]:
                    lo, hi = np.vstack([lo, row_lo]), np.vstack([hi, row_hi])
                else:
                    lo[r], hi[r] = row_lo, row_hi
                assert self._art_cache is not None  # built by the lookup above
                self._art_cache[k] = (lo, hi)
        if commit:
            self.art_recent_.append(x)
        return out

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
                u = z * (1.0 - self.calib_tol)
                c = len(srt) - bisect.bisect_left(srt, u)
                if len(srt) < self.prior_rows:  # not enough own history yet: lend a heavy-tailed prior
                    tail = (1.0 + u * u / self.prior_nu) ** (-self.prior_nu / 2.0)
                    c += (self.prior_rows - len(srt)) * tail
                s /= 1.0 + c / self.calib_k
            best = max(best, s)
        return best

    def _likelihood(self, s: float, commit: bool) -> float:
        """Log-scaled likelihood that the short rolling mean of calibrated scores is this high."""
        buf = self.lk_buf_
        vals = list(buf)[1:] if len(buf) == buf.maxlen else list(buf)
        avg = (sum(vals) + s) / (len(vals) + 1)
        out = 0.0 if self.lk_dist_ is None else log_score(tail_probability(avg, *self.lk_dist_))
        if commit:
            buf.append(s)
            if self.n_ >= self.likelihood_learn:
                self.lk_hist_.append(avg)
                self.lk_since_ += 1
                if len(self.lk_hist_) >= _LK_MIN_SAMPLES and (
                    self.lk_dist_ is None or self.lk_since_ >= _LK_REESTIMATE
                ):
                    self.lk_dist_ = estimate_normal(self.lk_hist_)
                    self.lk_since_ = 0
        return out

    def _step(self, x: float, commit: bool) -> float:
        feats = self._features(x)
        zs = self._zs(feats)
        score = self._calibrated(zs)
        dist = None
        if self.novelty_dim:
            dist = nearest_distance(self.nov_past_, x, self.novelty_dim)
            if dist is not None and len(self.nov_sorted_) >= self.novelty_min:
                ratio = novelty_ratio(dist, self.nov_sorted_, self.novelty_quantile)
                score *= min(1.0, ratio) ** self.novelty_power
                if self.novelty_raise:  # a shape farther from the past than (almost) ever before
                    ref = self.nov_sorted_[int(self.novelty_raise_quantile * (len(self.nov_sorted_) - 1))]
                    if ref > 0.0:
                        score = max(score, self.novelty_raise * min(1.0, max(0.0, dist / ref - 1.0)))
        if self.art_raise:
            score = max(score, self._art(x, commit))
        if self.likelihood_weight:
            score = max(score, self.likelihood_weight * self._likelihood(score, commit))
        if self.flat_raise:  # after the likelihood: a stuck stream is one event, not a run of surprises
            run, best, changed, fired, flat = flat_step(
                x,
                self.prev_,
                self.flat_run_,
                self.flat_best_,
                self.flat_changed_,
                self.flat_fired_,
                self.flat_min,
                self.flat_factor,
            )
            if flat:
                score = max(score, self.flat_raise)
            if commit:
                self.flat_run_, self.flat_best_, self.flat_changed_, self.flat_fired_ = run, best, changed, fired
        if self.suppress_ > 0 and not (self.breakthrough and score >= self.breakthrough * self.trigger_):
            score *= self.damp
            if commit:
                self.suppress_ -= 1
        elif score >= self.alarm:
            recurring = self._recurring()
            if commit:
                self.alarm_rows_ = (self.alarm_rows_ + [self.n_])[-(self.recur_depth + 2) :]
            if recurring:
                score *= self.damp
            elif commit:
                self.suppress_ = max(1, int(self.suppress_fraction * (self.n_ + 1)))
                self.trigger_ = score
        if commit:
            self._learn(x, feats, zs)
            if self.novelty_dim:
                self.nov_past_.append(x)
                if dist is not None:
                    remember(dist, self.nov_recent_, self.nov_sorted_, self.novelty_history)
        return min(1.0, score)

    def _recurring(self) -> bool:
        """Whether an alarm now repeats the gap between two recent alarms (a daily job, not an incident)."""
        rows = self.alarm_rows_
        last = len(rows) - 1
        for j2 in range(last, max(last - self.recur_depth, 0), -1):
            for j1 in range(j2 - 1, max(j2 - 1 - self.recur_depth, -1), -1):
                gap = rows[j2] - rows[j1]
                if gap > 0 and abs(self.n_ - rows[j2] - gap) <= max(self.recur_atol, self.recur_tol * gap):
                    return True
        return False

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
