"""Which risk points are worth keeping: changes and heartbeats only.

Recomputing every minute for thousands of (asset, hazard) pairs would write millions of identical rows
a day. ``SeriesRecorder`` keeps a point only when the level changes, the score changes at the
configured rounding, or the point is the first in a new heartbeat bucket (so charts and bucketed
queries still see a value in every bucket). Quiet scopes (level none) may use a longer heartbeat.

A series never goes back in time, and never misses a change: a change that comes from a late event (a
utility's buffered readings, stamped before the last stored point) is kept just after that point, when the
platform learned it, instead of being dropped while the current risk shows it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from resilience.core.domain import Level

Explanation = str | Callable[[], str]  # a callable is only called for a point that is kept

ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)  # same origin as date_bin(..., TIMESTAMPTZ '2000-01-01') in SQL
LATE_STEP = timedelta(milliseconds=1)  # how far after the last stored point a late change is kept


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """One row of ``risk_series``."""

    scope: str
    hazard: str
    ts: datetime
    score: float
    level: Level
    explanation: str = ""


def bucket_start(ts: datetime, width: timedelta, origin: datetime = ORIGIN) -> datetime:
    """The start of the ``width`` bucket holding ``ts`` (what SQL ``date_bin`` returns)."""
    return origin + ((ts - origin) // width) * width


@dataclass(slots=True)
class _Last:
    ts: datetime
    score: float
    level: Level


class SeriesRecorder:
    """Decides, per (scope, hazard), whether a new value becomes a stored point.

    Parameters
    ----------
    heartbeat : timedelta
        A point is kept when it is the first in a new bucket of this width, even if unchanged.
    quiet_heartbeat : timedelta or None
        Heartbeat for scopes at level none; ``None`` means the same as ``heartbeat``.
    score_decimals : int
        Scores are compared after rounding to this many decimals.
    """

    def __init__(
        self,
        heartbeat: timedelta = timedelta(minutes=5),
        quiet_heartbeat: timedelta | None = timedelta(hours=1),
        score_decimals: int = 2,
    ) -> None:
        self.heartbeat = heartbeat
        self.quiet_heartbeat = quiet_heartbeat
        self.score_decimals = score_decimals
        self._last: dict[tuple[str, str], _Last] = {}

    def offer(
        self, scope: str, hazard: str, ts: datetime, score: float, level: Level, explanation: Explanation = ""
    ) -> SeriesPoint | None:
        """The point to store for this value, or ``None`` when it adds nothing.

        ``explanation`` may be a callable, called only when a point is kept (rendering it is not free).
        """
        rounded = round(score, self.score_decimals)
        key = (scope, hazard)
        last = self._last.get(key)
        if last is not None:
            if ts <= last.ts:  # late: a change is kept just after the stored history, a repeat adds nothing
                if level == last.level and rounded == last.score:
                    return None
                ts = last.ts + LATE_STEP
            width = self.heartbeat if level > Level.NONE or self.quiet_heartbeat is None else self.quiet_heartbeat
            same_bucket = bucket_start(ts, width) == bucket_start(last.ts, width)
            if level == last.level and rounded == last.score and same_bucket:
                return None
        level = level if type(level) is Level else Level(level)  # Level(...) is slow; most callers pass one
        self._last[key] = _Last(ts, rounded, level)
        said = explanation if isinstance(explanation, str) else explanation()
        return SeriesPoint(scope, hazard, ts, rounded, level, said)

    def forget(self, scope: str, hazard: str) -> None:
        self._last.pop((scope, hazard), None)
