"""The seasonal baseline detector: a reading against the usual value for its hour of the week.

It follows :class:`resilience.detection.base.Detector` like the small detectors in ``detectors.py``; it has
a module of its own because its learned state (a robust profile per bucket of the period) is its own.
"""

from __future__ import annotations

from array import array
from datetime import datetime

from resilience.detection.base import Detector, ramp, to_epoch
from resilience.detection.explain import msg
from resilience.core.display import fmt
from resilience.core.messages import Message


class SeasonalBaselineDetector(Detector):
    """Deviation from the usual value for this hour of the week (or any period and bucket).

    Demand-driven water pressure and flow, and rain-driven drainage levels, swing every day; a flat
    baseline would alarm at every morning peak. Each bucket keeps an exponentially weighted mean and
    mean absolute deviation. Buckets are in UTC, which only shifts their labels, not their contents.

    Parameters
    ----------
    period_s, bucket_s
        Season length and bucket width (default: one week of hourly buckets).
    alpha
        Weight of a new reading in its bucket (0.1: about the last ten weeks).
    z_lo, z_hi
        Deviations, in bucket scales, that score 0 and 1.
    min_count
        Readings a bucket needs before it scores (its grace period).
    rel_floor
        Scale floor as a fraction of the bucket mean, so a very regular signal is not hypersensitive.
    min_scale
        Scale floor in engineering units, a few times the gauge's noise: a nearly empty manhole that is 1.4 %
        fuller than usual is 22 % "above usual" but not a blockage.

    Examples
    --------
    >>> det = SeasonalBaselineDetector(period_s=86400, bucket_s=3600, min_count=2)
    >>> for day in range(3):
    ...     det.learn_one(0.31, day * 86400.0 + 7200)
    >>> round(det.score_one(0.18, 3 * 86400.0 + 7200), 2), det.score_one(0.31, 3 * 86400.0 + 7200)
    (1.0, 0.0)
    """

    name = "seasonal"

    def __init__(
        self,
        period_s: float = 604800.0,
        bucket_s: float = 3600.0,
        alpha: float = 0.1,
        z_lo: float = 3.0,
        z_hi: float = 8.0,
        min_count: int = 3,
        rel_floor: float = 0.03,
        min_scale: float = 0.0,
    ) -> None:
        self.period_s = period_s
        self.bucket_s = bucket_s
        self.alpha = alpha
        self.z_lo = z_lo
        self.z_hi = z_hi
        self.min_count = min_count
        self.rel_floor = rel_floor
        self.min_scale = min_scale
        self._reset()

    def _reset(self) -> None:
        n = max(1, int(round(self.period_s / self.bucket_s)))
        # Flat arrays, not lists: 8 bytes a bucket instead of a pointer and a float object (168 buckets a sensor).
        self.mean_ = array("d", bytes(8 * n))
        self.dev_ = array("d", bytes(8 * n))
        self.count_ = array("i", bytes(4 * n))

    def bucket(self, t: datetime | float) -> int:
        return int((to_epoch(t) % self.period_s) // self.bucket_s) % len(self.mean_)

    def _scale(self, b: int) -> float:
        return max(1.25 * self.dev_[b], self.rel_floor * abs(self.mean_[b]), self.min_scale, 1e-12)

    def learn_one(self, x: float, t: datetime | float) -> None:
        b = self.bucket(t)
        c = self.count_[b]
        if c == 0:
            self.mean_[b] = x
        else:
            a = max(self.alpha, 1.0 / (c + 1))  # plain average while the bucket is young
            self.dev_[b] += a * (abs(x - self.mean_[b]) - self.dev_[b])
            self.mean_[b] += a * (x - self.mean_[b])
        self.count_[b] = c + 1

    def score_one(self, x: float, t: datetime | float) -> float:
        b = self.bucket(t)
        if self.count_[b] < self.min_count:
            return 0.0
        return ramp(abs(x - self.mean_[b]) / self._scale(b), self.z_lo, self.z_hi)

    def usual(self, t: datetime | float) -> float | None:
        b = self.bucket(t)
        return self.mean_[b] if self.count_[b] else None

    def describe(self, x: float, t: datetime | float, unit: str = "") -> Message | None:
        usual = self.usual(t)
        if usual is None:
            return None
        if usual == 0:
            return msg("anomaly.seasonal_usual", value=fmt(x, unit), usual=fmt(usual, unit))
        pct = abs(x - usual) / abs(usual) * 100
        side = "above" if x > usual else "below"
        return msg("anomaly.seasonal", value=fmt(x, unit), pct=f"{pct:.0f}", side=side, usual=fmt(usual, unit))
