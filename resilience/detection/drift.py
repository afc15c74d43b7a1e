"""Detectors of slow change and of dead sensors: drift (EWMA + CUSUM) and flatline (stuck).

Split from :mod:`resilience.detection.detectors` (which re-exports them) to keep modules small; the same
protocol and scoring conventions apply.
"""

from __future__ import annotations

import math
from datetime import datetime

from resilience.detection.base import Detector, clip01, to_epoch
from resilience.detection.explain import msg
from resilience.core.display import fmt
from resilience.core.messages import Message


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

    def __init__(
        self, alpha: float = 0.005, k: float = 0.5, h: float = 10.0, grace_period: int = 50, min_scale: float = 0.0
    ) -> None:
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

    def describe(self, x: float, t: datetime | float, unit: str = "") -> Message | None:
        trend = "upward" if self._sums(x)[0] >= self._sums(x)[1] else "downward"
        return msg("anomaly.drift", value=fmt(x, unit), trend=trend, baseline=fmt(self.mean_, unit))


class FlatlineDetector(Detector):
    """A sensor stuck on one value: the same reading (within ``tolerance``) for at least ``min_run``
    readings *and* ``min_duration_s`` seconds.

    Real signals jitter; a frozen value usually means a dead transmitter or a stuck float. Expressing
    the rule in time as well as readings makes it mean the same for a 10 s strain gauge and a 5 min
    gas detector. Zero-inflated signals (a dry rain gauge, methane at 0 %LEL) legitimately sit on their
    physical floor for days: readings within ``tolerance`` of ``floor`` do not count as stuck for a sensor
    that rests there, while a reading frozen anywhere else still does. A sensor that seldom touches its
    floor (a culvert gas detector whose background reads 0 now and then) is stuck there too, once its run
    at the floor is ``floor_run_factor`` times the longest it has shown before: a transmitter that dies
    to 0 is the commonest fault of all. The score is 1 while stuck, otherwise 0.

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
    floor_rest_fraction
        A sensor at its floor for at least this fraction of its readings rests there: never stuck at it.
    floor_run_factor
        For a sensor that does not rest on its floor: a run at the floor this many times longer than its
        longest earlier run there (and at least ``min_run`` readings, ``min_duration_s``) is stuck.
    floor_grace
        Readings learned before a run at the floor can count as stuck.

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
    >>> gas = FlatlineDetector(min_run=5, min_duration_s=600, floor=0.0, floor_grace=20)
    >>> for i in range(40):  # background gas, at 0 one reading in five
    ...     gas.learn_one(0.0 if i % 5 == 0 else 0.2 + 0.01 * (i % 3), 60.0 * i)
    >>> for i in range(40, 50):  # the transmitter dies to 0
    ...     gas.learn_one(0.0, 60.0 * i)
    >>> gas.score_one(0.0, 3000.0)
    1.0
    """

    name = "flatline"

    def __init__(
        self,
        min_run: int = 30,
        tolerance: float = 0.0,
        min_duration_s: float = 0.0,
        floor: float | None = None,
        floor_rest_fraction: float = 0.5,
        floor_run_factor: float = 3.0,
        floor_grace: int = 120,
    ) -> None:
        self.min_run = min_run
        self.tolerance = tolerance
        self.min_duration_s = min_duration_s
        self.floor = floor
        self.floor_rest_fraction = floor_rest_fraction
        self.floor_run_factor = floor_run_factor
        self.floor_grace = floor_grace
        self._reset()

    def _reset(self) -> None:
        self.last_: float | None = None
        self.run_ = 0
        self.since_ = 0.0
        self.last_ts_ = 0.0
        self.n_ = 0  # readings learned, and how many of them at the floor (outside stuck runs)
        self.at_floor_ = 0
        self.longest_floor_run_ = 0  # longest completed run at the floor that was not stuck

    def _run_with(self, x: float) -> int:
        if self.last_ is not None and abs(x - self.last_) <= self.tolerance:
            return self.run_ + 1
        return 1

    def _at_floor(self, x: float) -> bool:
        return self.floor is not None and abs(x - self.floor) <= self.tolerance

    def _stuck(self, x: float, run: int, ts: float) -> bool:
        if self._at_floor(x):
            rests = self.n_ < self.floor_grace or self.at_floor_ >= self.floor_rest_fraction * self.n_
            if rests or run < self.floor_run_factor * max(self.longest_floor_run_, 1):
                return False
        return run >= self.min_run and ts - self.since_ >= self.min_duration_s

    def learn_one(self, x: float, t: datetime | float) -> None:
        ts = to_epoch(t)
        run = self._run_with(x)
        if run == 1:  # a run ended: remember how long this sensor sits on its floor when it is working
            if (
                self.last_ is not None
                and self._at_floor(self.last_)
                and not self._stuck(self.last_, self.run_, self.last_ts_)
            ):
                self.longest_floor_run_ = max(self.longest_floor_run_, self.run_)
            self.last_, self.since_ = x, ts
        self.run_, self.last_ts_ = run, ts
        if not self._stuck(x, run, ts):  # a frozen value says nothing about how the sensor behaves
            self.n_ += 1
            self.at_floor_ += self._at_floor(x)

    def score_one(self, x: float, t: datetime | float) -> float:
        return 1.0 if self._stuck(x, self._run_with(x), to_epoch(t)) else 0.0

    def describe(self, x: float, t: datetime | float, unit: str = "") -> Message | None:
        run = self._run_with(x)
        minutes = (to_epoch(t) - self.since_) / 60 if run > 1 else 0.0
        said = {"value": fmt(x, unit), "readings": str(run), "minutes": f"{minutes:.0f}"}
        if self._at_floor(x):
            return msg("anomaly.stuck_at_floor", **said, floor_run=str(self.longest_floor_run_))
        return msg("anomaly.stuck", **said)
