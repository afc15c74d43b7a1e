"""The ``forecasts`` table (projections in force, one row per sensor) and the forecast events of a run.

The detection worker applies each batch's forecast events in the transaction that publishes them, so the
table always says what the log last said: an issue or update replaces the sensor's row, a withdrawal
deletes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from resilience.core.events import EventKind, ForecastEvent
from resilience.store.schema import events, forecasts, sensors


def apply_forecasts(conn: Connection, batch: Iterable[ForecastEvent]) -> None:
    """Replace or delete each event's sensor row, in order (the last event of a sensor wins)."""
    for e in batch:
        if e.phase == "withdraw" or not e.projections:
            conn.execute(delete(forecasts).where(forecasts.c.sensor_id == e.sensor_id))
            continue
        row = {
            "sensor_id": e.sensor_id,
            "asset_id": e.asset_id,
            "sensor_kind": e.sensor_kind,
            "ts": e.ts,
            "value": e.value,
            "slope_per_min": e.slope_per_min,
            "projections": e.projections,
            "explanation": e.explanation,
            "message": e.message,
        }
        update = {k: v for k, v in row.items() if k != "sensor_id"}
        conn.execute(
            pg_insert(forecasts).values(**row).on_conflict_do_update(index_elements=["sensor_id"], set_=update)
        )


def current_forecasts(
    conn: Connection, *, asset_ids: Sequence[str] = (), sensor_ids: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """The projections in force for these assets or sensors, newest first."""
    if not asset_ids and not sensor_ids:
        return []
    q = select(forecasts)
    cond = []
    if asset_ids:
        cond.append(forecasts.c.asset_id.in_(list(asset_ids)))
    if sensor_ids:
        cond.append(forecasts.c.sensor_id.in_(list(sensor_ids)))
    q = q.where(or_(*cond)).order_by(forecasts.c.ts.desc())
    return [dict(r._mapping) for r in conn.execute(q)]


def forecast_events(
    conn: Connection, sensor_ids: Sequence[str] = (), *, until: datetime | None = None
) -> list[dict[str, Any]]:
    """The forecast events (payloads as published) of these sensors, or of every sensor when none are
    named, in log order, up to ``until`` in data time: for scoring a run."""
    q = select(events.c.payload).where(events.c.kind == EventKind.FORECAST.value).order_by(events.c.id)
    if sensor_ids:
        q = q.where(events.c.payload["sensor_id"].astext.in_(list(sensor_ids)))
    out = [dict(r.payload) for r in conn.execute(q)]
    if until is not None:
        out = [p for p in out if datetime.fromisoformat(p["ts"]) <= until]
    return out


def sensor_limits(conn: Connection, sensor_ids: Sequence[str]) -> dict[str, tuple[str, dict[str, float] | None]]:
    """Each sensor's kind and its own graded limits (None: its kind's), as detection grades it."""
    if not sensor_ids:
        return {}
    q = select(sensors.c.id, sensors.c.kind, sensors.c.thresholds).where(sensors.c.id.in_(list(sensor_ids)))
    return {r.id: (r.kind, r.thresholds) for r in conn.execute(q)}
