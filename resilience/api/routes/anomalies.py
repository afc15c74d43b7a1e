"""Anomaly events as engineers and duty officers query them: what was odd, where, since when, and why."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from sqlalchemy import select

from resilience.api.auth import HISTORY, require
from resilience.api.csv import csv_response, wants_csv
from resilience.api.deps import ConnDep, Offset, RefQuery
from resilience.api.schemas import LevelName, Problem
from resilience.domain import Level
from resilience.store.schema import anomalies

router = APIRouter(prefix="/api/v1/anomalies", tags=["anomalies"])
COLUMNS = ["id", "sensor_id", "asset_id", "sensor_kind", "detector", "start", "end", "last_ts", "peak_score", "level",
           "last_value", "explanation"]


def _public(row: Any) -> dict[str, Any]:
    data = dict(row._mapping)
    data["level"] = Level(data["level"]).label
    data["open"] = data["end"] is None
    return data


@router.get("", dependencies=[Depends(require(HISTORY))])
def list_anomalies(request: Request, conn: ConnDep, sensor_id: RefQuery = None, asset_id: RefQuery = None,
                   sensor_kind: Annotated[str | None, Query(max_length=32)] = None,
                   detector: Annotated[str | None, Query(max_length=64)] = None,
                   open: Annotated[bool | None, Query(description="only open (true) or closed (false) ones")] = None,
                   min_level: Annotated[LevelName | None, Query(description="the lowest level listed")] = None,
                   since: datetime | None = None, until: datetime | None = None,
                   offset: Offset = 0, limit: Annotated[int, Query(ge=1, le=5000)] = 100) -> Any:
    q = select(anomalies)
    for col, value in (("sensor_id", sensor_id), ("asset_id", asset_id), ("sensor_kind", sensor_kind),
                       ("detector", detector)):
        if value is not None:
            q = q.where(anomalies.c[col] == value)
    if open is not None:
        q = q.where(anomalies.c.end.is_(None) if open else anomalies.c.end.is_not(None))
    if min_level is not None:
        q = q.where(anomalies.c.level >= int(Level.parse(min_level)))
    if since is not None:
        q = q.where(anomalies.c.last_ts >= since)
    if until is not None:
        q = q.where(anomalies.c.start < until)
    rows = [_public(r) for r in conn.execute(q.order_by(anomalies.c.start.desc()).offset(offset).limit(limit))]
    if wants_csv(request):
        return csv_response(rows, COLUMNS, "anomalies.csv")
    return {"data": rows, "count": len(rows)}


@router.get("/{anomaly_id}", responses={404: {"model": Problem}}, dependencies=[Depends(require(HISTORY))])
def get_anomaly(anomaly_id: Annotated[str, Path(min_length=1, max_length=64)], conn: ConnDep) -> Any:
    row = conn.execute(select(anomalies).where(anomalies.c.id == anomaly_id)).one_or_none()
    if row is None:
        raise HTTPException(404, f"anomaly {anomaly_id!r} not found")
    return _public(row)
