"""Historical readings for engineers: raw, or bucketed from the rollups; JSON or CSV.

Bucketed answers are right whenever the readings arrived: where the rollups lag (the newest minutes, a
back-fill not yet refreshed) the buckets are aggregated from raw readings: each such bucket has ``raw`` true,
and ``raw_buckets`` says how many.

Every answer is at most ``limit`` rows (capped at ``MAX_ROWS``); when there is more, ``next`` gives the
``start`` of the next page (keyset paging on time, so pages never overlap or skip).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import StreamingResponse

from resilience.core.display import unit_label
from resilience.api.json_reply import json_reply
from resilience.api.csv import CSV_ON_REQUEST, csv_response, wants_csv
from resilience.api.exports import csv_chunks, parquet_chunks
from resilience.api.auth import HistoryOrUtility, Principal
from resilience.api.deps import ConnDep, utc_window
from resilience.api.openapi_errors import errors
from resilience.api.schemas import ID_MAX, ID_PATTERN, BucketedReadingsPage, RawReadingsPage
from resilience.store import registry
from resilience.store.db import Connection
from resilience.store.readings import AGGS, BUCKETS, iter_raw, query_bucketed, query_raw

router = APIRouter(prefix="/api/v1/sensors", tags=["readings"])

MAX_ROWS = 50_000  # rows (raw readings or buckets) per answer; page with ``next`` for more
DEFAULT_ROWS = 10_000
BIN_ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)  # the origin of date_bin in query_bucketed
Bucket = Literal["1m", "5m", "15m", "1h", "6h", "1d"]
Agg = Literal["avg", "min", "max", "last", "count", "sum"]
# the store's buckets and aggregates, spelled out so OpenAPI lists them and FastAPI answers 422 for others
assert set(get_args(Bucket)) == set(BUCKETS) and set(get_args(Agg)) == AGGS


def _visible_sensor(conn: Connection, who: Principal, sensor_id: str) -> dict[str, Any]:
    """The sensor, if the caller may read it (a utility key only its own utility's); 404 otherwise, as if absent."""
    try:
        sensor = registry.get(conn, table="sensors", id=sensor_id)
    except registry.NotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    if not who.owns_utility(sensor["utility_id"]):
        raise HTTPException(404, f"sensor {sensor_id} not found")
    return sensor


def bucket_page(start: datetime, end: datetime, width: timedelta, limit: int) -> tuple[datetime, datetime | None]:
    """The end of a page of at most ``limit`` buckets from ``start``, and the next page's start (or None)."""
    first = start - (start - BIN_ORIGIN) % width  # the bucket ``start`` falls in, as date_bin computes it
    if end - first <= width * limit:
        return end, None
    page_end = first + width * limit
    return page_end, page_end


@router.get(
    "/{sensor_id}/readings",
    response_model=BucketedReadingsPage | RawReadingsPage,
    responses={**CSV_ON_REQUEST, **errors(404)},
)
def get_readings(
    request: Request,
    conn: ConnDep,
    who: HistoryOrUtility,
    sensor_id: Annotated[str, Path(min_length=1, max_length=ID_MAX, pattern=ID_PATTERN)],
    start: Annotated[datetime | None, Query(description="inclusive; pass a page's `next` here")] = None,
    end: Annotated[datetime | None, Query(description="exclusive")] = None,
    bucket: Annotated[Bucket | None, Query(description="bucket width; raw readings when omitted")] = None,
    agg: Annotated[Agg, Query(description="the aggregate per bucket")] = "avg",
    limit: Annotated[int, Query(ge=1, le=MAX_ROWS, description="rows (readings or buckets) per page")] = DEFAULT_ROWS,
) -> Any:
    """Raw readings, or buckets aggregated from the rollups; one page of at most ``limit`` rows."""
    sensor = _visible_sensor(conn, who, sensor_id)
    start_, end_ = utc_window(start, end)
    if bucket is None:
        return _raw(request, conn, sensor, start_, end_, limit)
    page_end, next_ = bucket_page(start_, end_, BUCKETS[bucket], limit)
    try:
        rows, source = query_bucketed(conn, sensor_id=sensor_id, start=start_, end=page_end, bucket=bucket, agg=agg)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    if wants_csv(request):
        return csv_response(rows, ["bucket", "value", "n"], f"{sensor_id}_{bucket}_{agg}.csv", next_=next_)
    extra = {"bucket": bucket, "agg": agg, "source": source, "raw_buckets": sum(1 for row in rows if row["raw"])}
    return _page(sensor, start_, page_end, next_, rows, extra)  # raw_buckets: (partly) from raw rows: rollups lag


def _page(
    sensor: dict[str, Any],
    start: datetime,
    end: datetime,
    next_: datetime | None,
    rows: list[dict[str, Any]],
    extra: dict[str, Any] | None = None,
) -> Any:
    """One page of a sensor's series (RawReadingsPage or BucketedReadingsPage, with ``extra``)."""
    return json_reply(
        {
            "sensor_id": sensor["id"],
            "unit": sensor["unit"],
            "unit_label": unit_label(sensor["unit"]),  # as people read it: "%LEL" for percent_lel
            **(extra or {}),
            "start": start,
            "end": end,
            "count": len(rows),
            "next": next_,
            "data": rows,
        }
    )


def _raw(request: Request, conn: Connection, sensor: dict[str, Any], start: datetime, end: datetime, limit: int) -> Any:
    """One page of raw readings: one row more than asked tells whether there is a next page, and where."""
    sensor_id = sensor["id"]
    rows = query_raw(conn, sensor_id=sensor_id, start=start, end=end, limit=limit + 1)
    last = rows[limit]["ts"] if len(rows) > limit else None
    next_ = last if isinstance(last, datetime) else None
    rows = rows[:limit]
    if wants_csv(request):
        return csv_response(rows, ["ts", "value", "quality"], f"{sensor_id}.csv", next_=next_)
    return _page(sensor, start, end, next_, rows)


EXPORT_TYPES = {
    "csv": ("text/csv", "csv"),
    "parquet": ("application/vnd.apache.parquet", "parquet"),
}


@router.get(
    "/{sensor_id}/readings/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "the whole series over the range, streamed (no row cap)",
            "content": {"text/csv": {}, "application/vnd.apache.parquet": {}},
        },
        **errors(404),
    },
)
def export_readings(
    request: Request,
    conn: ConnDep,
    who: HistoryOrUtility,
    sensor_id: Annotated[str, Path(min_length=1, max_length=ID_MAX, pattern=ID_PATTERN)],
    start: Annotated[datetime | None, Query(description="inclusive; default: 24 h before end")] = None,
    end: Annotated[datetime | None, Query(description="exclusive; default: now")] = None,
    format: Annotated[Literal["csv", "parquet"], Query(description="file format")] = "csv",
) -> StreamingResponse:
    """Every raw reading of the sensor over the range as one file, however many: CSV, or Parquet for
    pandas (``pandas.read_parquet``). Streamed in chunks, so nothing is cut and nothing waits in memory."""
    _visible_sensor(conn, who, sensor_id)  # 404 for a sensor the caller may not read
    start_, end_ = utc_window(start, end)
    chunks = iter_raw(request.app.state.engine, sensor_id=sensor_id, start=start_, end=end_)
    media, ext = EXPORT_TYPES[format]
    body = csv_chunks(chunks) if format == "csv" else parquet_chunks(chunks)
    name = f"{sensor_id}_{start_:%Y%m%dT%H%M%SZ}_{end_:%Y%m%dT%H%M%SZ}.{ext}"
    return StreamingResponse(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})
