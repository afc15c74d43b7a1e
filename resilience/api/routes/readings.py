"""Historical readings for engineers: raw, or bucketed from the rollups; JSON or CSV."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request

from resilience.api.csv import csv_response, wants_csv
from resilience.api.deps import ConnDep
from resilience.store import registry
from resilience.store.readings import AGGS, BUCKETS, query_bucketed, query_raw
from resilience.store.schema import sensors
from resilience.store.timeseries import get_backend

router = APIRouter(prefix="/api/v1/sensors", tags=["readings"])


def _utc(dt: datetime | None, default: datetime) -> datetime:
    if dt is None:
        return default
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


@router.get("/{sensor_id}/readings")
def get_readings(sensor_id: str, request: Request, conn: ConnDep, start: datetime | None = None,
                 end: datetime | None = None, bucket: str | None = Query(None, description=", ".join(BUCKETS)),
                 agg: str = Query("avg", description=", ".join(sorted(AGGS))),
                 limit: int = Query(100_000, ge=1, le=1_000_000)) -> Any:
    try:
        sensor = registry.get(conn, table=sensors, id=sensor_id)
    except registry.NotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    now = datetime.now(UTC)
    end_ = _utc(end, now + timedelta(seconds=1))
    start_ = _utc(start, end_ - timedelta(hours=24))
    if start_ >= end_:
        raise HTTPException(422, "start must be before end")
    if bucket is None:
        rows = query_raw(conn, sensor_id=sensor_id, start=start_, end=end_, limit=limit)
        if wants_csv(request):
            return csv_response(rows, ["ts", "value", "quality"], f"{sensor_id}.csv")
        return {"sensor_id": sensor_id, "unit": sensor["unit"], "start": start_, "end": end_, "count": len(rows),
                "data": rows}
    backend = get_backend(conn)
    try:
        rows, source = query_bucketed(conn, sensor_id=sensor_id, start=start_, end=end_, bucket=bucket, agg=agg,
                                      backend=backend)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    if wants_csv(request):
        return csv_response(rows, ["bucket", "value", "n"], f"{sensor_id}_{bucket}_{agg}.csv")
    return {"sensor_id": sensor_id, "unit": sensor["unit"], "bucket": bucket, "agg": agg, "source": source,
            "start": start_, "end": end_, "count": len(rows), "data": rows}
