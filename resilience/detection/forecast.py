"""Warning before the limit: when a trending quantity will cross each alarm level, with an interval.

A :class:`TrendProjector` per sensor follows one-minute means (``learn_one(x, t)``, as the detectors of
:mod:`resilience.detection.base` do) and ``project_one(t)`` fits a robust trend over the last
``window_min`` closed minutes: Theil-Sen (``scipy.stats.theilslopes``, the median of pairwise slopes, so a
spike or two does not bend it) with its confidence interval of the slope. It projects only when the
trend is significant (the whole slope interval is on the dangerous side) and a level is reached within
``horizon_s``. The crossing time of a level is (limit - fitted now) / slope; its interval comes from the
two ends of the slope interval (the fast end gives the earliest time, the slow end the latest).

Minute means rather than raw readings: a 1 Hz strain gauge and a once-a-minute manhole weigh the same,
the fit costs the same for every sensor, and a projection is recomputed at most once a minute.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from scipy.stats import theilslopes

from resilience.core.domain import Direction, Level, SensorKindSpec
from resilience.detection.base import to_epoch

DEFAULT_WINDOW_MIN = 15
DEFAULT_MIN_POINTS = 10
DEFAULT_HORIZON_S = 7200.0
DEFAULT_CONFIDENCE = 0.95
SEASONAL_HORIZON_S = 1800.0  # demand- and weather-driven kinds swing daily: only a near crossing is a warning
#: kinds that are drivers, not a condition that builds up (rain comes and goes; drainage levels carry its effect)
NOT_PROJECTED = frozenset({"rainfall"})


@dataclass(frozen=True, slots=True)
class Projection:
    """When the trend reaches one alarm level: ``eta_s`` seconds after ``ts``, between ``eta_low_s`` and
    ``eta_high_s`` (``None``: the slow end of the trend does not reach it within any horizon)."""

    level: Level
    limit: float
    ts: float
    eta_s: float
    eta_low_s: float
    eta_high_s: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level.label,
            "limit": self.limit,
            "eta_s": round(self.eta_s, 1),
            "eta_low_s": round(self.eta_low_s, 1),
            "eta_high_s": None if self.eta_high_s is None else round(self.eta_high_s, 1),
        }


@dataclass(frozen=True, slots=True)
class Trend:
    """The fitted trend at ``ts``: the level now, the slope per minute and its confidence interval."""

    ts: float
    value: float
    slope_per_min: float
    slope_low: float
    slope_high: float


class TrendProjector:
    """Streaming projector of one sensor: one-minute means in, projected level crossings out.

    ``thresholds`` maps level names to limits; ``direction`` is the dangerous side (``both`` and empty
    thresholds project nothing: there is no single side to project towards).
    """

    def __init__(
        self,
        thresholds: dict[str, float],
        direction: str = "above",
        window_min: int = DEFAULT_WINDOW_MIN,
        min_points: int = DEFAULT_MIN_POINTS,
        horizon_s: float = DEFAULT_HORIZON_S,
        confidence: float = DEFAULT_CONFIDENCE,
        bucket_s: float = 60.0,
    ) -> None:
        self.thresholds = thresholds
        self.direction = direction
        self.window_min = window_min
        self.min_points = min_points
        self.horizon_s = horizon_s
        self.confidence = confidence
        self.bucket_s = bucket_s
        self._limits = sorted(((Level.parse(k), float(v)) for k, v in thresholds.items()), key=lambda p: p[0])
        self._sign = {"above": 1.0, "below": -1.0}.get(direction, 0.0)
        self._reset()

    @classmethod
    def for_kind(cls, spec: SensorKindSpec, thresholds: dict[str, float] | None = None) -> TrendProjector:
        """The projector of a sensor of ``spec``'s kind (the sensor's own limits if it has them)."""
        direction = spec.direction.value if isinstance(spec.direction, Direction) else str(spec.direction)
        limits = {} if spec.name in NOT_PROJECTED else dict(thresholds if thresholds is not None else spec.thresholds)
        horizon = SEASONAL_HORIZON_S if spec.seasonal else DEFAULT_HORIZON_S
        return cls(limits, direction, horizon_s=horizon)

    def _reset(self) -> None:
        self.bucket_: float | None = None  # start of the minute being averaged
        self.sum_ = 0.0
        self.tsum_ = 0.0  # the mean time of a minute's readings is where its mean stands
        self.n_ = 0
        self.means_: deque[tuple[float, float]] = deque(maxlen=self.window_min)  # (mean time, mean value)

    @property
    def active(self) -> bool:
        """Whether this sensor can be projected at all (a side and at least one limit)."""
        return bool(self._sign and self._limits)

    # -- the streaming protocol ----------------------------------------------------------------------
    def learn_one(self, x: float, t: datetime | float) -> bool:
        """Add one reading; True when it closed a minute (a new mean, so a new projection is due)."""
        if not math.isfinite(x):
            return False
        ts = to_epoch(t)
        bucket = math.floor(ts / self.bucket_s) * self.bucket_s
        closed = False
        if self.bucket_ is None:
            self.bucket_ = bucket
        elif bucket > self.bucket_:
            if self.n_:
                self.means_.append((self.tsum_ / self.n_, self.sum_ / self.n_))
                closed = True
            if bucket - self.bucket_ > self.bucket_s * self.window_min:  # a long gap: the old trend is stale
                self.means_.clear()
            self.bucket_, self.sum_, self.tsum_, self.n_ = bucket, 0.0, 0.0, 0
        elif bucket < self.bucket_:  # a late reading of a closed minute: its mean is already taken
            return False
        self.sum_ += x
        self.tsum_ += ts
        self.n_ += 1
        return closed

    def trend(self) -> Trend | None:
        """The robust trend over the closed minutes; None with fewer than ``min_points`` of them."""
        if len(self.means_) < self.min_points:
            return None
        t = np.fromiter((m[0] for m in self.means_), dtype=float)
        y = np.fromiter((m[1] for m in self.means_), dtype=float)
        minutes = (t - t[-1]) / 60.0  # the latest minute at 0, so the intercept is the level now
        if np.ptp(y) == 0.0:
            return Trend(float(t[-1]), float(y[-1]), 0.0, 0.0, 0.0)
        res = theilslopes(y, minutes, alpha=self.confidence)
        return Trend(float(t[-1]), float(res.intercept), float(res.slope), float(res.low_slope), float(res.high_slope))

    def project_one(self, t: datetime | float | None = None) -> list[Projection]:
        """The levels the trend reaches within the horizon, lowest first; empty when there is no
        significant trend towards the dangerous side (which withdraws an earlier projection)."""
        if not self.active or len(self.means_) < self.min_points or self._out_of_reach():
            return []
        tr = self.trend()
        if tr is None:
            return []
        s = self._sign
        slow, fast = sorted((s * tr.slope_low, s * tr.slope_high))  # rates towards danger, per minute
        if slow <= 0.0 or s * tr.slope_per_min <= 0.0:  # not significant: the interval allows no rise
            return []
        now = to_epoch(t) if t is not None else tr.ts
        since_fit = max(0.0, now - tr.ts)
        out: list[Projection] = []
        for level, limit in self._limits:
            gap = s * (limit - tr.value)  # how far the level is, towards danger
            if gap <= 0.0:
                continue  # already reached: the limit detectors say so
            eta = gap / (s * tr.slope_per_min) * 60.0 - since_fit
            if eta > self.horizon_s:
                break  # higher levels are further still
            low = max(0.0, gap / fast * 60.0 - since_fit)
            high = gap / slow * 60.0 - since_fit
            if high > self.horizon_s:
                break  # the slow end of the trend does not reach it within the horizon: not sure enough
            out.append(Projection(level, limit, now, max(0.0, eta), low, max(0.0, high)))
        return out

    def _out_of_reach(self) -> bool:
        """A cheap bound before the fit: no limit can be within the horizon when even twice the window's
        whole range per minute would not get there (most sensors, most minutes, skip Theil-Sen)."""
        first, last = self.means_[0], self.means_[-1]
        span_min = max((last[0] - first[0]) / 60.0, 1.0)
        values = [m[1] for m in self.means_]
        rate = 2.0 * (max(values) - min(values)) / span_min
        nearest = min(
            (self._sign * (limit - last[1]) for _, limit in self._limits if self._sign * (limit - last[1]) > 0),
            default=None,
        )
        return nearest is None or nearest > rate * self.horizon_s / 60.0

    def reached(self, value: float, limit: float) -> bool:
        """Whether ``value`` is at or past ``limit`` on the dangerous side."""
        return bool(self._sign) and self._sign * (value - limit) >= 0.0

    def forget_recent(self) -> None:
        """Drop the minute means (a stuck run's frozen values or a repair's jump are no trend)."""
        self._reset()
