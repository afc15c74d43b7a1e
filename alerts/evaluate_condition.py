"""When an incident's *condition* holds, which is what an alert should follow, as against its cause.

The simulator's ground truth says when a cause starts and ends (a leak opened and was shut, a pipe blocked and
cleared). An alert follows the condition it warns about, and that has its own onset and end:

- **Onset.** A sensor fault is a condition only once it meets its definition: a stuck sensor after its value
  has been frozen for ``STUCK_AFTER_S`` (domain.md: zero variance over N samples), a silent one after
  ``silence_k`` of its expected intervals without a reading. Before that, showing "none" is not wrong (and an
  early alert is not wrong either). Every other incident is a condition from its start.
- **End.** When the cause ends, the physics takes its time: methane vents with the tunnel's time constant, a
  surcharged manhole drains for an hour. The condition holds while a reading of one of the incident's sensors
  is still at or beyond the lowest alarm limit of its kind (per-sensor limits win); it ends with the first
  reading back inside them. For a sensor without limits, it ends when the effect has relaxed (``settle_s`` of
  the truth: three of its time constants). A silent sensor's condition ends with its first reading.

Between the end of the cause and the end of the condition, "active" and "cleared" both agree with the truth:
the cause is gone, the value not yet back. After it, only "cleared" or "none" do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from alerts.forecast_score import ScoredIncident
from resilience.core.domain import SENSOR_KINDS, STUCK_AFTER_S, Direction, Level, level_for_value
from resilience.store.db import Connection
from resilience.store.readings import sensor_window
from resilience.store.registry import NotFound, get

# how far past the cause's end the first reading back inside the limits is looked for
LOOK_AFTER = timedelta(hours=6)


class Cause(ScoredIncident, Protocol):
    @property
    def type(self) -> str: ...
    @property
    def settle_s(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Condition:
    """An incident's cause (``start``, ``end``) and its condition (``onset``, ``settled``)."""

    incident_id: str
    start: datetime
    end: datetime
    onset: datetime
    settled: datetime


def _sensor(conn: Connection, sensor_id: str) -> dict[str, Any] | None:
    try:
        return get(conn, table="sensors", id=sensor_id)
    except NotFound:
        return None


def _back_inside(conn: Connection, sensor: Mapping[str, Any], after: datetime) -> datetime | None:
    """The first reading at or after ``after`` inside the sensor's alarm limits (None: limits unknown)."""
    spec = SENSOR_KINDS.get(str(sensor["kind"]))
    limits = sensor.get("thresholds") or (spec.thresholds if spec else {})
    if spec is None or not limits:
        return None
    direction: Direction = spec.direction
    for r in sensor_window(conn, sensor_id=str(sensor["id"]), start=after, end=after + LOOK_AFTER):
        if level_for_value(r.value, dict(limits), direction) == Level.NONE:
            return r.ts
    return after + LOOK_AFTER


def _first_reading(conn: Connection, sensor_id: str, after: datetime) -> datetime:
    rows = sensor_window(conn, sensor_id=sensor_id, start=after, end=after + LOOK_AFTER)
    return rows[0].ts if rows else after + LOOK_AFTER


def condition_of(conn: Connection, inc: Cause, *, silence_k: float) -> Condition:
    """The incident's condition as the stored readings and the fault definitions give it."""
    sensors = [s for sid in inc.sensor_ids if (s := _sensor(conn, sid)) is not None]
    onset, settled = inc.start, inc.end
    if inc.type == "stuck_sensor":
        onset = inc.start + timedelta(seconds=STUCK_AFTER_S)
    elif inc.type == "silent_sensor":
        interval = max((float(s["expected_interval_s"]) for s in sensors), default=0.0)
        onset = inc.start + timedelta(seconds=silence_k * interval)
        settled = max([_first_reading(conn, str(s["id"]), inc.end) for s in sensors], default=inc.end)
    else:
        relaxed = inc.end + timedelta(seconds=inc.settle_s)
        for s in sensors:
            back = _back_inside(conn, s, inc.end)
            settled = max(settled, back if back is not None else relaxed)
    return Condition(inc.incident_id, inc.start, inc.end, min(onset, inc.end), settled)


def conditions(conn: Connection, incidents: Sequence[Cause], *, silence_k: float) -> list[Condition]:
    return [condition_of(conn, inc, silence_k=silence_k) for inc in incidents]
