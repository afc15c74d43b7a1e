"""Detectors of slow change and of dead sensors: drift (EWMA + CUSUM) and flatline (stuck).

Split from :mod:`resilience.detection.detectors` (which re-exports them) to keep modules small; the same
protocol and scoring conventions apply.
"""

from __future__ import annotations

import math
from datetime import datetime

from resilience.detection.base import Detector, clip01, to_epoch
from resilience.detection.units import fmt

class CusumDetector(Detector):
    """Two-sided CUSUM on residuals from an EWMA baseline: finds slow drifts a z-score misses.

    The baseline mean and variance follow the signal with weight ``alpha``; the cumulative sums grow by
    standardised residuals beyond the slack ``k`` and score 0.5 when they reach ``h``.

    Parameters
    ----------
    alpha
        EWMA weight of the baseline.
    k
        Slack per reading, in standard deviations (drift smaller than this is ignored).
    h
        Decision interval: cumulative sum that scores 0.5 (2h scores 1).
    grace_period
        Readings learned before scoring.
    min_scale
        Floor of the standard deviation in engineering units, so drifts of immaterial size on a very
        smooth signal do not accumulate.

    Examples
    --------
    >>> det = CusumDetector(grace_period=20)
    >>> for i in range(200):
    ...     det.learn_one(1.0 + 0.01 * ((i * 7) % 5 - 2), float(i))
    >>> det.score_one(1.0, 200.0) < 0.1
    True
    >>> for i in range(200, 230):
    ...     det.learn_one(1.1, float(i))
    >>> det.score_one(1.1, 230.0) > 0.5
    True
    """

    name = "cusum"

    def __init__(self, alpha: float = 0.005, k: float = 0.5, h: float = 10.0, grace_period: int = 50,
                 min_scale: float = 0.0) -> None:
        self.alpha = alpha
        self.k = k
        self.h = h
        self.grace_period = grace_period
        self.min_scale = min_scale
        self._reset()

    def _reset(self) -> None:
        self.mean_ = 0.0
        self.var_ = 0.0
        self.pos_ = 0.0
        self.neg_ = 0.0
        self.n_ = 0

    def _sums(self, x: float) -> tuple[float, float]:
        sd = max(math.sqrt(self.var_) if self.var_ > 0 else 0.0, self.min_scale, 1e-12)
        r = (x - self.mean_) / sd
        return max(0.0, self.pos_ + r - self.k), max(0.0, self.neg_ - r - self.k)

    def learn_one(self, x: float, t: datetime | float) -> None:
        self.n_ += 1
        if self.n_ == 1:
            self.mean_ = x
            return
        if self.n_ > self.grace_period:
            self.pos_, self.neg_ = self._sums(x)
        a = max(self.alpha, 1.0 / self.n_)
        d = x - self.mean_
        self.mean_ += a * d
        self.var_ = (1 - a) * (self.var_ + a * d * d)

    def score_one(self, x: float, t: datetime | float) -> float:
        if self.n_ <= self.grace_period:
            return 0.0
        pos, neg = self._sums(x)
        return clip01(0.5 * max(pos, neg) / self.h)

    def explain(self, x: float, t: datetime | float, unit: str = "") -> str:
        side = "upward" if self._sums(x)[0] >= self._sums(x)[1] else "downward"
        return f"{fmt(x, unit)}, sustained {side} drift from the baseline {fmt(self.mean_, unit)}"


class FlatlineDetector(Detector):
    """A sensor stuck on one value: the same reading (within ``tolerance``) for at least ``min_run``
    readings *and* ``min_duration_s`` seconds.

    Real signals jitter; a frozen value usually means a dead transmitter or a stuck float. Expressing
    the rule in time as well as readings makes it mean the same for a 10 s strain gauge and a 5 min
    gas detector. Zero-inflated signals (a dry rain gauge, methane at 0 %LEL) legitimately sit on their
    physical floor for days: readings within ``tolerance`` of ``floor`` never count as stuck, while a
    reading frozen anywhere else still does. The score is 1 while stuck, otherwise 0.

    Parameters
    ----------
    min_run
        Consecutive equal readings (including the current one) that count as stuck.
    tolerance
        Largest absolute difference still treated as "the same value".
    min_duration_s
        Seconds the value must have been frozen (first to current reading) as well.
    floor
        A value the signal legitimately rests on (e.g. 0); ``None`` if there is none.

    Examples
    --------
    >>> det = FlatlineDetector(min_run=3)
    >>> for i in range(2):
    ...     det.learn_one(4.2, float(i))
    >>> det.score_one(4.2, 2.0), det.score_one(4.3, 2.0)
    (1.0, 0.0)
    >>> dry = FlatlineDetector(min_run=3, min_duration_s=600, floor=0.0)
    >>> for i in range(20):
    ...     dry.learn_one(0.0, 60.0 * i)
    >>> dry.score_one(0.0, 1200.0)
    0.0
    """

    name = "flatline"

    def __init__(self, min_run: int = 30, tolerance: float = 0.0, min_duration_s: float = 0.0,
                 floor: float | None = None) -> None:
        self.min_run = min_run
        self.tolerance = tolerance
        self.min_duration_s = min_duration_s
        self.floor = floor
        self._reset()

    def _reset(self) -> None:
        self.last_: float | None = None
        self.run_ = 0
        self.since_ = 0.0

    def _run_with(self, x: float) -> int:
        if self.last_ is not None and abs(x - self.last_) <= self.tolerance:
            return self.run_ + 1
        return 1

    def learn_one(self, x: float, t: datetime | float) -> None:
        run = self._run_with(x)
        if run == 1:
            self.last_ = x
            self.since_ = to_epoch(t)
        self.run_ = run

    def score_one(self, x: float, t: datetime | float) -> float:
        if self.floor is not None and abs(x - self.floor) <= self.tolerance:
            return 0.0
        run = self._run_with(x)
        if run < self.min_run:
            return 0.0
        return 1.0 if to_epoch(t) - self.since_ >= self.min_duration_s else 0.0

    def explain(self, x: float, t: datetime | float, unit: str = "") -> str:
        run = self._run_with(x)
        minutes = (to_epoch(t) - self.since_) / 60 if run > 1 else 0.0
        return f"value stuck at {fmt(x, unit)} for {run} readings ({minutes:.0f} min)"
