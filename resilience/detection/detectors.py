"""Small univariate streaming detectors for lifeline sensors.

Every class follows :class:`resilience.detection.base.Detector`: parameters stored unchanged, learned
state in ``_`` attributes, ``score_one`` is pure (it never changes state), a grace period returns 0.
Scores use :func:`~resilience.detection.base.ramp`, so 0.5 means "half way between the notice and the
certain-anomaly deviation" for every detector and one engine threshold fits all of them.
"""

from __future__ import annotations

from array import array
from collections import deque
from datetime import datetime
from typing import Any

from resilience.detection.base import Detector, _decode, clip01, ramp, to_epoch
from resilience.detection.explain import msg
from resilience.core.display import fmt
from resilience.core.messages import Message
from resilience.core.domain import SENSOR_KINDS, Direction, Level, level_for_value

#: Score given for each graded level, so a blue breach already crosses the default 0.5 threshold.
LEVEL_SCORES: dict[Level, float] = {
    Level.NONE: 0.0,
    Level.BLUE: 0.6,
    Level.YELLOW: 0.75,
    Level.ORANGE: 0.9,
    Level.RED: 1.0,
}


class GradedThresholdDetector(Detector):
    """Graded limits (blue/yellow/orange/red) from a sensor kind, overridable per sensor.

    No learning and no grace period: a limit breach counts from the very first reading, because the
    limits come from standards (see ``domain.md``), not from data.

    Parameters
    ----------
    kind
        Sensor kind whose ``SENSOR_KINDS`` thresholds and direction are the defaults.
    thresholds
        Per-sensor limits by level name; replaces the kind's limits when given.
    direction
        ``"above"``, ``"below"`` or ``"both"``; defaults to the kind's direction.

    Examples
    --------
    >>> det = GradedThresholdDetector(kind="methane")
    >>> det.level_one(22.0).name, det.score_one(22.0, 0.0)
    ('ORANGE', 0.9)
    """

    name = "graded"

    def __init__(
        self, kind: str | None = None, thresholds: dict[str, float] | None = None, direction: str | None = None
    ) -> None:
        self.kind = kind
        self.thresholds = thresholds
        self.direction = direction

    def limits(self) -> tuple[dict[str, float], Direction]:
        """Effective limits and direction (per-sensor override first, then the kind's defaults)."""
        spec = SENSOR_KINDS.get(self.kind) if self.kind else None
        limits = self.thresholds if self.thresholds is not None else (dict(spec.thresholds) if spec else {})
        direction = Direction(self.direction) if self.direction else (spec.direction if spec else Direction.ABOVE)
        return limits, direction

    def level_one(self, x: float) -> Level:
        limits, direction = self.limits()
        return level_for_value(x, limits, direction)

    def graded_level(self, x: float, t: datetime | float) -> Level:
        """The graded level of ``x`` (the ensemble asks every member that has this method)."""
        return self.level_one(x)

    def learn_one(self, x: float, t: datetime | float) -> None:
        return None

    def score_one(self, x: float, t: datetime | float) -> float:
        return LEVEL_SCORES[self.level_one(x)]

    def describe(self, x: float, t: datetime | float, unit: str = "") -> Message | None:
        level = self.level_one(x)
        if level is Level.NONE:
            return None
        limits, _ = self.limits()
        limit = limits[level.label] if level.label in limits else limits[level.name]
        return msg("anomaly.limit_reached", value=fmt(x, unit), level=level.label, limit=fmt(limit, unit))


class RateOfChangeDetector(Detector):
    """Change of the value over the last ``window_s`` seconds.

    With ``limits`` the change is *graded* like a threshold (domain.md: water pressure dropping more than
    0.1 MPa in 5 min is red): the score is the level's score and :meth:`graded_level` reports the level,
    so the breach counts as a standards-based limit. With ``max_change`` the limit is fixed but ungraded
    (that change scores 0.5, twice that scores 1). Without either, the change is compared with the
    typical change learned by an exponentially weighted mean absolute deviation, which suits sensors
    without a known limit. The history always follows the signal, even while the ensemble protects
    the learned state from anomalous readings (:meth:`learn_recent`).

    Parameters
    ----------
    window_s
        Look-back in seconds.
    max_change
        Absolute change that scores 0.5; ``None`` to learn a typical change instead.
    direction
        ``"both"``, ``"up"`` or ``"down"``: which changes count.
    alpha
        Forgetting factor of the learned typical change.
    z_lo, z_hi
        Learned-mode deviations (in typical changes) that score 0 and 1.
    grace_period
        Readings learned before the learned mode scores.
    limits
        Graded change limits by level name (``{"red": 0.1}``), measured in ``direction``.
    min_change
        Learned mode: floor of the typical change in engineering units, so a very smooth signal does
        not alarm on immaterial changes.
    jump_fraction
        Graded mode: a step since the previous reading of at least this fraction of a limit, at a pace
        that would cover the whole limit within ``window_s``, grades at that limit's level at once
        (a "rate of rise" alarm). A quick surcharge shows in the first reading after its onset instead
        of once the full change has accumulated; noise cannot make a step of half a limit, and slow
        rises (rain) never reach the pace. ``None`` disables it.

    Examples
    --------
    >>> det = RateOfChangeDetector(window_s=300, max_change=0.1, direction="down")
    >>> det.learn_one(0.30, 0.0)
    >>> round(det.score_one(0.15, 60.0), 3)
    0.75
    >>> red = RateOfChangeDetector(window_s=300, direction="down", limits={"red": 0.1})
    >>> red.learn_one(0.40, 0.0)
    >>> red.graded_level(0.25, 60.0).name, red.score_one(0.25, 60.0), red.graded_level(0.35, 60.0).name
    ('RED', 1.0, 'NONE')
    >>> jump = RateOfChangeDetector(window_s=300, direction="up", limits={"yellow": 10.0}, jump_fraction=0.5)
    >>> jump.learn_one(20.0, 0.0)
    >>> jump.graded_level(27.0, 60.0).name, jump.graded_level(24.0, 60.0).name
    ('YELLOW', 'NONE')
    """

    name = "rate_of_change"

    def __init__(
        self,
        window_s: float = 300.0,
        max_change: float | None = None,
        direction: str = "both",
        alpha: float = 0.02,
        z_lo: float = 4.0,
        z_hi: float = 10.0,
        grace_period: int = 30,
        limits: dict[str, float] | None = None,
        min_change: float = 0.0,
        jump_fraction: float | None = None,
    ) -> None:
        self.window_s = window_s
        self.max_change = max_change
        self.direction = direction
        self.alpha = alpha
        self.z_lo = z_lo
        self.z_hi = z_hi
        self.grace_period = grace_period
        self.limits = limits
        self.min_change = min_change
        self.jump_fraction = jump_fraction
        self._reset()

    def _reset(self) -> None:
        # The window as two flat float arrays (8 bytes a reading, not a tuple of two float objects).
        self.times_ = array("d")
        self.values_ = array("d")
        self.typical_ = 0.0
        self.n_ = 0

    def _change(self, x: float, ts: float) -> float | None:
        for t0, x0 in zip(self.times_, self.values_, strict=True):  # oldest reading still inside the window
            if ts - t0 <= self.window_s:
                return x - x0
        return None

    def _signed(self, change: float) -> float:
        if self.direction == "up":
            return max(change, 0.0)
        if self.direction == "down":
            return max(-change, 0.0)
        return abs(change)

    def learn_one(self, x: float, t: datetime | float) -> None:
        ts = to_epoch(t)
        change = self._change(x, ts)
        if change is not None:
            a = abs(change)
            self.n_ += 1
            self.typical_ += max(self.alpha, 1.0 / self.n_) * (a - self.typical_)  # plain mean while young
        self.learn_recent(x, ts)

    def learn_recent(self, x: float, t: datetime | float) -> None:
        """Follow the signal without learning what is typical (called for protected readings)."""
        ts = to_epoch(t)
        self.times_.append(ts)
        self.values_.append(x)
        old = 0
        while ts - self.times_[old] > self.window_s:  # the one just appended always stays
            old += 1
        if old:
            del self.times_[:old], self.values_[:old]

    def forget_recent(self) -> None:
        del self.times_[:], self.values_[:]

    def load_state(self, state: dict[str, Any]) -> None:
        """Also reads a state saved before the window was two arrays (a ``history_`` of pairs)."""
        learned = dict(state["state"])
        history = learned.pop("history_", None)
        super().load_state({**state, "state": learned})
        if history is not None:
            pairs = _decode(history)
            self.times_, self.values_ = array("d", (p[0] for p in pairs)), array("d", (p[1] for p in pairs))

    def graded_level(self, x: float, t: datetime | float) -> Level:
        """Highest level whose change limit is reached (NONE without ``limits``), by the change within the
        window or, with ``jump_fraction``, by the pace of the step since the previous reading."""
        return max(self._levels(x, to_epoch(t)))

    def _levels(self, x: float, ts: float) -> tuple[Level, Level]:
        """(level by the change within the window, level by the jump since the previous reading)."""
        if not self.limits:
            return Level.NONE, Level.NONE
        change = self._change(x, ts)
        by_change = (
            Level.NONE if change is None else level_for_value(self._signed(change), self.limits, Direction.ABOVE)
        )
        return by_change, self._jump_level(x, ts)

    def _jump(self, x: float, ts: float) -> tuple[float, float] | None:
        """(step, seconds) since the previous reading, in ``direction``; None without one."""
        if self.jump_fraction is None or not self.times_:
            return None
        t_prev, x_prev = self.times_[-1], self.values_[-1]
        dt = ts - t_prev
        return (self._signed(x - x_prev), dt) if dt > 0 else None

    def _jump_level(self, x: float, ts: float) -> Level:
        jump = self._jump(x, ts)
        if jump is None or self.limits is None or self.jump_fraction is None:
            return Level.NONE
        step, dt = jump
        pace = step * self.window_s / dt
        return max(
            (
                Level.parse(name)
                for name, limit in self.limits.items()
                if step >= self.jump_fraction * limit and pace >= limit
            ),
            default=Level.NONE,
        )

    def score_one(self, x: float, t: datetime | float) -> float:
        if self.limits:
            return LEVEL_SCORES[self.graded_level(x, t)]
        change = self._change(x, to_epoch(t))
        if change is None:
            return 0.0
        c = self._signed(change)
        if self.max_change is not None:
            return clip01(0.5 * c / self.max_change)
        if self.n_ < self.grace_period:
            return 0.0
        scale = max(self.typical_, self.min_change, 1e-12)
        return ramp(c / scale, self.z_lo, self.z_hi)

    def describe(self, x: float, t: datetime | float, unit: str = "") -> Message | None:
        ts = to_epoch(t)
        change = self._change(x, ts)
        by_change, by_jump = self._levels(x, ts)
        level, limit = max(by_change, by_jump), ""
        minutes = f"{self.window_s / 60:.0f}"
        if self.limits and level > Level.NONE:
            limit = fmt(self.limits[level.label] if level.label in self.limits else self.limits[level.name], unit)
            jump = self._jump(x, ts)
            if by_change < by_jump and jump is not None:
                verb = "rose" if x > self.values_[-1] else "fell"
                return msg(
                    "anomaly.rate_jump",
                    value=fmt(x, unit),
                    verb=verb,
                    jump=fmt(jump[0], unit),
                    seconds=f"{jump[1]:.0f}",
                    level=level.label,
                    limit=limit,
                    minutes=minutes,
                )
        if change is None:
            return None
        said = {"value": fmt(x, unit), "verb": "rose" if change > 0 else "fell", "change": fmt(abs(change), unit)}
        if limit:
            return msg("anomaly.rate_change_limit", **said, minutes=minutes, level=level.label, limit=limit)
        return msg("anomaly.rate_change", **said, minutes=minutes)


class GradedRateDetector(RateOfChangeDetector):
    """A graded rate limit that sits beside a learned ``rate_of_change`` in the same ensemble.

    Same parameters as :class:`RateOfChangeDetector` (give ``limits``); a separate registry name so an
    ensemble can hold both a standards-style rate rule and a learned typical-change detector.

    Examples
    --------
    >>> det = GradedRateDetector(window_s=300, direction="up", limits={"yellow": 15.0})
    >>> det.learn_one(30.0, 0.0)
    >>> det.graded_level(47.0, 45.0).name
    'YELLOW'
    """

    name = "graded_rate"


class RobustZScoreDetector(Detector):
    """Distance from the median of the last ``window`` readings, in MADs.

    Median and MAD ignore the outliers they are meant to find; they are refreshed every
    ``refresh_every`` learned readings, which keeps the cost per reading low (a few µs).

    With ``recent`` > 1 the detector looks for a *persistent level shift* rather than a single outlier:
    the deviation scored is the ``agree``-th largest same-side deviation among the last ``recent``
    readings (the current one included), so short spikes (vehicles on a bridge) are ignored while a
    permanent offset (a bearing fault) scores as soon as ``agree`` readings show it. The recent run keeps
    following the signal while the ensemble protects the median from anomalous readings
    (:meth:`learn_recent`).

    Parameters
    ----------
    window
        Readings in the reference window.
    z_lo, z_hi
        Robust z (|x - median| / (1.4826 MAD)) that score 0 and 1.
    grace_period
        Readings learned before scoring.
    refresh_every
        Recompute median and MAD after this many learned readings.
    min_scale
        Floor of the scale in engineering units: a deviation must be material (e.g. a tenth of the
        kind's blue limit), however smooth the signal, before it scores.
    recent, agree
        Persistence: score the ``agree``-th largest same-side deviation of the last ``recent`` readings
        (1 and 1: the current reading alone).

    Examples
    --------
    >>> det = RobustZScoreDetector(window=50, grace_period=10)
    >>> for i in range(50):
    ...     det.learn_one(10.0 + (i % 5) * 0.1, float(i))
    >>> det.score_one(10.2, 50.0), det.score_one(20.0, 50.0)
    (0.0, 1.0)
    >>> shift = RobustZScoreDetector(window=50, grace_period=10, recent=3, agree=3)
    >>> for i in range(50):
    ...     shift.learn_one(10.0 + (i % 5) * 0.1, float(i))
    >>> shift.score_one(20.0, 50.0)  # one spike is not a level shift
    0.0
    >>> shift.learn_recent(20.0, 50.0); shift.learn_recent(20.0, 51.0)
    >>> shift.score_one(20.0, 52.0)
    1.0
    """

    name = "robust_z"

    def __init__(
        self,
        window: int = 240,
        z_lo: float = 4.0,
        z_hi: float = 10.0,
        grace_period: int = 30,
        refresh_every: int = 10,
        min_scale: float = 1e-9,
        recent: int = 1,
        agree: int = 1,
    ) -> None:
        self.window = window
        self.z_lo = z_lo
        self.z_hi = z_hi
        self.grace_period = grace_period
        self.refresh_every = refresh_every
        self.min_scale = min_scale
        self.recent = recent
        self.agree = agree
        self._reset()

    def _reset(self) -> None:
        self.values_ = array("d")  # the last ``window`` learned readings, oldest first (8 bytes each)
        self.recent_: deque[float] = deque(maxlen=max(0, self.recent - 1))
        self.median_ = 0.0
        self.scale_ = self.min_scale
        self.since_refresh_ = 0
        self.n_ = 0

    def _refresh(self) -> None:
        vals = sorted(self.values_)
        k = len(vals)
        med = 0.5 * (vals[(k - 1) // 2] + vals[k // 2])
        dev = sorted(abs(v - med) for v in vals)
        mad = 0.5 * (dev[(k - 1) // 2] + dev[k // 2])
        if mad == 0.0:  # quantised or mostly constant signals: fall back to the mean absolute deviation
            mad = sum(dev) / k / 1.2533
        self.median_ = med
        self.scale_ = max(1.4826 * mad, self.min_scale)
        self.since_refresh_ = 0

    def learn_one(self, x: float, t: datetime | float) -> None:
        self.values_.append(x)
        if len(self.values_) > self.window:
            del self.values_[0]
        self.learn_recent(x, t)
        self.n_ += 1
        self.since_refresh_ += 1
        if self.since_refresh_ >= self.refresh_every or self.n_ <= self.grace_period:
            self._refresh()

    def learn_recent(self, x: float, t: datetime | float) -> None:
        """Extend the recent run only (the reference median stays protected)."""
        if self.recent > 1:
            self.recent_.append(x)

    def forget_recent(self) -> None:
        self.recent_.clear()

    def deviation(self, x: float) -> float:
        """Signed deviation from the median that the score is based on (persistent part if ``recent`` > 1)."""
        if self.recent <= 1:
            return x - self.median_
        if len(self.recent_) < self.recent - 1:
            return 0.0
        devs = sorted([v - self.median_ for v in self.recent_] + [x - self.median_])
        k = min(max(self.agree, 1), len(devs))
        up, down = devs[-k], devs[k - 1]  # k readings at least this high / at most this low
        if up > 0 and up >= -down:
            return up
        return down if down < 0 else 0.0

    def score_one(self, x: float, t: datetime | float) -> float:
        if self.n_ < self.grace_period:
            return 0.0
        return ramp(abs(self.deviation(x)) / self.scale_, self.z_lo, self.z_hi)

    def describe(self, x: float, t: datetime | float, unit: str = "") -> Message | None:
        d = self.deviation(x)
        side = "above" if d > 0 else "below"
        if self.recent > 1:
            return msg(
                "anomaly.held_off_level",
                value=fmt(x, unit),
                amount=fmt(abs(d), unit),
                side=side,
                median=fmt(self.median_, unit),
                agree=str(self.agree),
                recent=str(self.recent),
            )
        return msg("anomaly.far_from_median", value=fmt(x, unit), side=side, median=fmt(self.median_, unit))


# Re-exported: drift, flatline and the seasonal baseline live in their own modules.
from resilience.detection.drift import CusumDetector, FlatlineDetector  # noqa: E402
from resilience.detection.seasonal import SeasonalBaselineDetector  # noqa: E402

__all__ = [
    "LEVEL_SCORES",
    "CusumDetector",
    "FlatlineDetector",
    "GradedRateDetector",
    "GradedThresholdDetector",
    "RateOfChangeDetector",
    "RobustZScoreDetector",
    "SeasonalBaselineDetector",
]
