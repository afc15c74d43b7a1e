"""The projections in force as the console and the alert show them now: each with its time, its age, the
clock time each level is due, and the message with the minutes left as of the request ("red in about 40 min
(30-55 min)" when it was made 0 min ago reads "about 35 min" five minutes later)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from resilience.core.forecasts import headline, render_en
from resilience.store.db import Connection
from resilience.store.forecasts import current_forecasts


def forecast_views(rows: Sequence[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """``rows`` of the ``forecasts`` table as of ``now``; ``overdue`` when the latest bound has passed (the
    projection did not come true yet and the trend has not been withdrawn: a minute's data may be missing)."""
    out = []
    for r in rows:
        elapsed = max(0.0, (now - r["ts"]).total_seconds())
        projections = []
        for p in r["projections"]:
            due = r["ts"] + timedelta(seconds=p["eta_s"])
            projections.append({**p, "due_at": due.isoformat()})
        top = r["projections"][-1] if r["projections"] else None
        high = top.get("eta_high_s") if top else None
        message = headline(r["projections"], elapsed)
        out.append(
            {
                "sensor_id": r["sensor_id"],
                "asset_id": r["asset_id"],
                "sensor_kind": r["sensor_kind"],
                "ts": r["ts"].isoformat(),
                "age_s": round(elapsed, 1),
                "value": r["value"],
                "slope_per_min": r["slope_per_min"],
                "projections": projections,
                "overdue": high is not None and elapsed > high,
                "message": message,
                "explanation": render_en(message),
            }
        )
    return out


def forecasts_for(
    conn: Connection, now: datetime, *, asset_ids: Sequence[str] = (), sensor_ids: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """The views of the projections in force for these assets or sensors."""
    return forecast_views(current_forecasts(conn, asset_ids=asset_ids, sensor_ids=sensor_ids), now)
