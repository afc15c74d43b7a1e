"""Risk spectrum for the emergency operations centre: per asset, the city matrix, and history.

Routes read only ``risk_current`` and ``risk_series`` through a ``RiskRepository`` dependency, so tests
can swap in ``InMemoryRiskRepository`` with ``app.dependency_overrides[get_risk_repository]``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request

from resilience.api.auth import HISTORY, WATCH, require
from resilience.api.csv import CSV_ON_REQUEST, csv_response, wants_csv
from resilience.api.json_reply import json_reply
from resilience.api.deps import ConnDep, utc_window
from resilience.api.openapi_errors import errors
from resilience.api.schemas import AssetRisk, HazardSeries, RiskSeries, Spectrum
from resilience.api.schemas import ID_MAX, Problem
from resilience.core.domain import Hazard, Level
from resilience.risk.repository import RiskRepository
from resilience.risk.store import PgRiskRepository

router = APIRouter(prefix="/api/v1/risk", tags=["risk"])

_SCOPE = re.compile(r"^(city|asset:[^\s:]+|district:[^\s:]+)$")
_BUCKET = re.compile(r"^(\d{1,6})\s*(s|m|min|h|d)$")  # at most 999999 of a unit: a width, not an overflow
_UNIT = {"s": "seconds", "m": "minutes", "min": "minutes", "h": "hours", "d": "days"}
MAX_SERIES_SPAN = timedelta(days=400)  # raw points: a bound on rows, since changes are unbounded per day
MAX_BUCKETS = 100_000  # bucketed: any period, as long as the answer has at most this many buckets per hazard


def get_risk_repository(conn: ConnDep) -> RiskRepository:
    return PgRiskRepository(conn)


RepoDep = Annotated[RiskRepository, Depends(get_risk_repository)]


def parse_bucket(value: str | None) -> timedelta | None:
    """``5m``, ``1h``, ``1d`` ... into a width; ``None`` stays raw."""
    if value is None or value == "":
        return None
    m = _BUCKET.match(value.strip().lower())
    if not m or int(m.group(1)) <= 0:
        raise HTTPException(422, f"bucket must look like 30s, 5m, 1h or 1d, not {value!r}")
    width = timedelta(**{_UNIT[m.group(2)]: int(m.group(1))})
    if width > MAX_SERIES_SPAN:
        raise HTTPException(422, f"bucket must be at most {MAX_SERIES_SPAN.days} days wide")
    return width


@router.get(
    "/assets/{asset_id}", response_model=AssetRisk, responses=errors(404), dependencies=[Depends(require(WATCH))]
)
def get_asset_risk(asset_id: Annotated[str, Path(min_length=1, max_length=ID_MAX)], repo: RepoDep) -> dict[str, Any]:
    """Per hazard: score, level, likelihood and consequence grades, weighted factors and the explanation."""
    rows = repo.read_current(scope=f"asset:{asset_id}")
    if not rows:
        raise HTTPException(404, f"no risk assessed for asset {asset_id}")
    worst = max(rows, key=lambda r: (r.level, r.score))
    return {
        "asset_id": asset_id,
        "level": worst.level.label,
        "worst_hazard": worst.hazard,
        "hazards": {r.hazard: r.to_dict() for r in rows},
    }


@router.get("/spectrum", response_model=Spectrum, dependencies=[Depends(require(WATCH))])
def get_spectrum(repo: RepoDep) -> dict[str, Any]:
    """The current hazard x district matrix of levels, with city-wide levels and counts per level."""
    rows = repo.read_current(scope_prefix="district:") + repo.read_current(scope="city")
    hazards = sorted({r.hazard for r in rows})
    districts = sorted({r.scope.split(":", 1)[1] for r in rows if r.scope.startswith("district:")})
    cell = {(r.scope, r.hazard): r for r in rows}

    def level(scope: str, hazard: str) -> str:
        r = cell.get((scope, hazard))
        return r.level.label if r else Level.NONE.label

    counts = {
        f"{r.scope}|{r.hazard}": r.factors[0].get("counts")
        for r in rows
        if r.factors and isinstance(r.factors[0], dict) and "counts" in r.factors[0]
    }
    updated = max((r.updated_at for r in rows), default=None)
    return {
        "hazards": hazards,
        "districts": districts,
        "levels": [[level(f"district:{d}", h) for d in districts] for h in hazards],
        "city": {h: level("city", h) for h in hazards},
        "counts": counts,
        "updated_at": updated.isoformat() if updated else None,
    }


@router.get(
    "/series",
    response_model=RiskSeries,
    responses={422: {"model": Problem}, **CSV_ON_REQUEST},
    dependencies=[Depends(require(HISTORY))],
)
def get_series(
    request: Request,
    repo: RepoDep,
    scope: Annotated[str, Query(max_length=80, description="asset:ID | district:ID | city")],
    hazard: Annotated[str | None, Query(max_length=64, description="one hazard; all when omitted")] = None,
    start: datetime | None = None,
    end: datetime | None = None,
    bucket: Annotated[
        str | None, Query(max_length=16, description="bucket width such as 5m, 1h, 1d; raw points if omitted")
    ] = None,
) -> Any:
    """Stored risk points (changes and heartbeats), raw or bucketed; CSV on request.

    A bucket carries its max level, avg/max score and the explanation of the change that set the max level.
    Raw answers span at most MAX_SERIES_SPAN; bucketed ones any period up to MAX_BUCKETS buckets.
    """
    if not _SCOPE.match(scope):
        raise HTTPException(422, "scope must be asset:ID, district:ID or city")
    width = parse_bucket(bucket)
    start_, end_ = utc_window(start, end)
    if width is None and end_ - start_ > MAX_SERIES_SPAN:
        raise HTTPException(422, f"at most {MAX_SERIES_SPAN.days} days of raw points per query; give a bucket")
    if width is not None and (end_ - start_) / width > MAX_BUCKETS:
        raise HTTPException(422, f"at most {MAX_BUCKETS} buckets per query; widen the bucket")
    data = [b.to_dict() for b in repo.query_series(scope, hazard or None, start_, end_, width)]
    if wants_csv(request):
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"risk_{scope}_{hazard or 'all'}_{bucket or 'raw'}") + ".csv"
        return csv_response(data, ["hazard", "bucket", "level", "avg_score", "max_score", "n", "explanation"], name)
    return json_reply(
        {
            "scope": scope,
            "hazard": hazard,
            "bucket": bucket,
            "start": start_,
            "end": end_,
            "count": len(data),
            "data": data,
        }
    )


@router.get(
    "/hazards/{hazard}/series",
    response_model=HazardSeries,
    responses={422: {"model": Problem}, **CSV_ON_REQUEST},
    dependencies=[Depends(require(HISTORY))],
)
def get_hazard_series(
    request: Request,
    repo: RepoDep,
    hazard: Hazard,
    start: datetime | None = None,
    end: datetime | None = None,
    bucket: Annotated[str, Query(max_length=16, description="bucket width such as 5m, 1h, 1d")] = "1h",
) -> Any:
    """One hazard across the city: every district's bucketed risk series in one answer, side by side.

    Each bucket carries its max level, avg/max score and the explanation of the change that set the max
    level; districts with no stored point in the period are left out. At most MAX_BUCKETS per district.
    """
    width = parse_bucket(bucket)
    if width is None:
        raise HTTPException(422, "bucket must look like 30s, 5m, 1h or 1d; a city-wide answer is bucketed")
    start_, end_ = utc_window(start, end)
    if (end_ - start_) / width > MAX_BUCKETS:
        raise HTTPException(422, f"at most {MAX_BUCKETS} buckets per district; widen the bucket")
    series = repo.query_district_series(hazard.value, start_, end_, width)
    if wants_csv(request):
        rows = [{"district_id": s.split(":", 1)[1], **b.to_dict()} for s, buckets in series.items() for b in buckets]
        columns = ["district_id", "hazard", "bucket", "level", "avg_score", "max_score", "n", "explanation"]
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"risk_districts_{hazard.value}_{bucket}") + ".csv"
        return csv_response(rows, columns, name)
    districts = [
        {"district_id": scope.split(":", 1)[1], "scope": scope, "data": [b.to_dict() for b in buckets]}
        for scope, buckets in series.items()
    ]
    return json_reply(
        {
            "hazard": hazard.value,
            "bucket": bucket,
            "start": start_,
            "end": end_,
            "count": sum(len(d["data"]) for d in districts),
            "districts": districts,
        }
    )
