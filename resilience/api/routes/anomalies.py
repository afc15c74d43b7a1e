"""Anomaly events as engineers and duty officers query them: what was odd, where, since when, and why."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request

from resilience.api.auth import HISTORY, require
from resilience.api.csv import CSV_ON_REQUEST, csv_response, wants_csv
from resilience.api.deps import ConnDep, Offset, RefQuery
from resilience.api.openapi_errors import errors
from resilience.api.schemas import AnomaliesPage, Anomaly, LevelName
from resilience.core.domain import Level
from resilience.store import anomalies

router = APIRouter(prefix="/api/v1/anomalies", tags=["anomalies"])
COLUMNS = [
    "id",
    "sensor_id",
    "asset_id",
    "sensor_kind",
    "detector",
    "start",
    "end",
    "last_ts",
    "peak_score",
    "level",
    "last_value",
    "explanation",
]


def _public(row: dict[str, Any]) -> dict[str, Any]:
    data = dict(row)
    data["level"] = Level(data["level"]).label
    data["open"] = data["end"] is None
    return data


@router.get("", response_model=AnomaliesPage, responses=CSV_ON_REQUEST, dependencies=[Depends(require(HISTORY))])
def list_anomalies(
    request: Request,
    conn: ConnDep,
    sensor_id: RefQuery = None,
    asset_id: RefQuery = None,
    sensor_kind: Annotated[str | None, Query(max_length=32)] = None,
    detector: Annotated[str | None, Query(max_length=64)] = None,
    open: Annotated[bool | None, Query(description="only open (true) or closed (false) ones")] = None,
    min_level: Annotated[LevelName | None, Query(description="the lowest level listed")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 100,
) -> Any:
    """Anomaly events newest first, filtered by where, which detector, open or closed, level and time;
    CSV on request."""
    found = anomalies.list_anomalies(
        conn,
        equal={"sensor_id": sensor_id, "asset_id": asset_id, "sensor_kind": sensor_kind, "detector": detector},
        open=open,
        min_level=int(Level.parse(min_level)) if min_level is not None else None,
        since=since,
        until=until,
        offset=offset,
        limit=limit,
    )
    rows = [_public(r) for r in found]
    if wants_csv(request):
        return csv_response(rows, COLUMNS, "anomalies.csv")
    return {"data": rows, "count": len(rows)}


@router.get("/{anomaly_id}", response_model=Anomaly, responses=errors(404), dependencies=[Depends(require(HISTORY))])
def get_anomaly(anomaly_id: Annotated[str, Path(min_length=1, max_length=64)], conn: ConnDep) -> Any:
    """One anomaly event: what was odd, where, since when, how odd at its peak, and why."""
    row = anomalies.get_anomaly(conn, anomaly_id)
    if row is None:
        raise HTTPException(404, f"anomaly {anomaly_id!r} not found")
    return _public(row)
