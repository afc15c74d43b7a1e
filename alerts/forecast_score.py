"""Score the projections of a simulator run ("warning before the limit") against what then happened.

Two figures, added to ``resilience evaluate``'s summary:

- ``lead_time_median_s``: for each incident whose sensors reached an alarm level at least
  ``GRADUAL_S`` after the incident began (a gradual incident: a trend had time to show), the highest level
  reached; the lead is the time from the first projection of that level on that sensor (issued after the
  incident began, or up to ``slack_s`` before it) to the first reading at that level, 0 when the level was
  reached unannounced. The median over those incidents (None without any).
- ``forecast_false_share``: of every projection of a level (the first event that projects that level on a
  sensor after it was not projected there), the share whose level the sensor did not reach within the
  projector's horizon. A projection whose horizon runs past the end of the data cannot be judged yet and is
  left out (``forecasts_unjudged`` says how many).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from resilience.core.domain import SENSOR_KINDS, Direction, Level
from resilience.store.forecasts import forecast_events, sensor_limits
from resilience.store.readings import sensor_window
from resilience.store.db import Connection

HORIZON_S = 7200.0  # resilience.detection.forecast.DEFAULT_HORIZON_S (the alerts stage cannot import it)
GRADUAL_S = 600.0


class ScoredIncident(Protocol):
    @property
    def incident_id(self) -> str: ...
    @property
    def sensor_ids(self) -> tuple[str, ...]: ...
    @property
    def start(self) -> datetime: ...
    @property
    def end(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class Issued:
    sensor_id: str
    level: Level
    ts: datetime


def projections_issued(payloads: Sequence[dict[str, Any]]) -> list[Issued]:
    """Each (sensor, level) projection as first made: a level that appears in a sensor's events after a
    withdrawal, or after events that did not project it."""
    current: dict[str, set[Level]] = {}
    out: list[Issued] = []
    for p in payloads:
        sid, ts = p["sensor_id"], datetime.fromisoformat(p["ts"])
        levels = {Level.parse(x["level"]) for x in p.get("projections") or ()}
        for lv in sorted(levels - current.get(sid, set())):
            out.append(Issued(sid, lv, ts))
        current[sid] = levels
    return out


def _limits(kind: str, own: dict[str, float] | None) -> tuple[list[tuple[Level, float]], float]:
    spec = SENSOR_KINDS.get(kind)
    if spec is None or spec.direction is Direction.BOTH:
        return [], 0.0
    limits = own if own is not None else spec.thresholds
    sign = 1.0 if spec.direction is Direction.ABOVE else -1.0
    return sorted(((Level.parse(k), float(v)) for k, v in limits.items()), key=lambda p: p[0]), sign


def first_crossings(
    conn: Connection, sensor_id: str, kind: str, own: dict[str, float] | None, start: datetime, end: datetime
) -> dict[Level, datetime]:
    """When the sensor's readings in [start, end) first reached each of its levels."""
    limits, sign = _limits(kind, own)
    out: dict[Level, datetime] = {}
    if not limits:
        return out
    for r in sensor_window(conn, sensor_id=sensor_id, start=start, end=end):
        for lv, limit in limits:
            if lv not in out and sign * (r.value - limit) >= 0.0:
                out[lv] = r.ts
    return out


def score_forecasts(
    conn: Connection,
    incidents: Sequence[ScoredIncident],
    *,
    slack_s: float = 600.0,
    end: datetime | None = None,
    horizon_s: float = HORIZON_S,
) -> dict[str, Any]:
    """``lead_time_median_s``, ``forecast_false_share`` and their counts (see the module's docstring)."""
    slack = timedelta(seconds=slack_s)
    horizon = timedelta(seconds=horizon_s)
    payloads = forecast_events(conn, until=end)
    issued = projections_issued(payloads)
    sensors = {i.sensor_id for i in issued} | {s for inc in incidents for s in inc.sensor_ids}
    limits = sensor_limits(conn, sorted(sensors))
    data_end = end or max((i.end for i in incidents), default=None)
    leads: list[float] = []
    for inc in incidents:
        best: tuple[Level, float] | None = None
        for sid in inc.sensor_ids:
            if sid not in limits:
                continue
            crossed = first_crossings(conn, sid, *limits[sid], inc.start, inc.end + slack)
            gradual = {lv: t for lv, t in crossed.items() if (t - inc.start).total_seconds() >= GRADUAL_S}
            if not gradual:
                continue
            top = max(gradual)
            first = min(
                (
                    p.ts
                    for p in issued
                    if p.sensor_id == sid and p.level is top and inc.start - slack <= p.ts <= gradual[top]
                ),
                default=None,
            )
            lead = (gradual[top] - first).total_seconds() if first else 0.0
            if best is None or (top, lead) > best:
                best = (top, lead)
        if best is not None:
            leads.append(best[1])
    judged = false = unjudged = 0
    for p in issued:
        if data_end is not None and p.ts + horizon > data_end:
            unjudged += 1
            continue
        if p.sensor_id not in limits:
            continue
        judged += 1
        crossed = first_crossings(conn, p.sensor_id, *limits[p.sensor_id], p.ts, p.ts + horizon)
        false += p.level not in crossed
    return {
        "lead_time_median_s": round(statistics.median(leads), 1) if leads else None,
        "forecast_false_share": round(false / judged, 3) if judged else None,
        "forecast_incidents": len(leads),
        "forecasts_judged": judged,
        "forecasts_unjudged": unjudged,
    }
