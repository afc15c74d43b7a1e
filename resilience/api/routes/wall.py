"""The operations wall's numbers in one request, and what one incident threatens.

The wall (``/console/wall``) draws the map from ``/api/v1/console/map`` and the live feed from the console's
alert stream; this adds the counts beside them: devices and their online rate by utility and kind, alarms
now and today by level and hazard, and a 24 h trend, each aggregated in SQL.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from alerts.actions import first_action
from alerts.api_support import get_rules
from resilience.api.auth import Watcher
from resilience.api.deps import BigId, ConnDep
from resilience.api.openapi_errors import errors
from resilience.api.routes.console_data import COUPLING_FACTORS, map_districts
from resilience.api.schemas import WallMap
from resilience.core.domain import Level
from resilience.store import wall_reads
from resilience.store.alert_feed import alert_console_view

router = APIRouter(prefix="/api/v1/console/wall", tags=["console"])

LEVEL_LABELS = [lv.label for lv in Level if lv is not Level.NONE]
TREND_HOURS = 24
THREAT_RADIUS_M = 1000.0
THREATS_MAX = 20


class DeviceCount(BaseModel):
    utility_id: str
    utility_name: str = Field(description="the utility's name of record")
    utility_name_zh: str | None = None
    utility_name_en: str | None = None
    kind: str = Field(description="sensor kind (resilience.core.domain.SENSOR_KINDS)")
    total: int
    online: int = Field(description="active sensors without a health alert (silent, stuck) that still holds")


class TrendPoint(BaseModel):
    hour: datetime = Field(description="start of the hour")
    by_level: dict[str, int]


class WallSummary(BaseModel):
    """What the wall counts, as of ``now``."""

    now: datetime
    day_start: datetime = Field(description="midnight of today in the requested time zone")
    devices: list[DeviceCount]
    devices_total: int
    devices_online: int
    active_by_level: dict[str, int] = Field(description="firing or acknowledged alerts per level")
    today_by_level: dict[str, int] = Field(description="alerts fired since day_start per level")
    today_by_hazard: dict[str, int]
    trend: list[TrendPoint] = Field(description="alerts fired per hour over the last 24 h, oldest first")


class Facility(BaseModel):
    id: str
    name: str
    name_zh: str | None = None
    name_en: str | None = None
    facility: str | None = Field(description="hospital, school, metro_station, ...")
    distance_m: float


class Around(BaseModel):
    """What an incident threatens and what to do first."""

    alert_id: int
    hazard: str
    level: str
    asset_id: str | None
    asset_name: str | None
    asset_name_zh: str | None = None
    asset_name_en: str | None = None
    district_id: str | None
    district_name: str | None
    district_name_zh: str | None = None
    district_name_en: str | None = None
    population: int | None = Field(description="the district's population")
    radius_m: float
    facilities: list[Facility] = Field(description="critical facilities within radius_m, nearest first")
    facilities_partial: bool = Field(description="more facilities are within radius_m than listed")
    action_zh: str
    action_en: str


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise HTTPException(422, f"unknown time zone {tz!r}") from exc


def _labels(by_level: dict[int, int]) -> dict[str, int]:
    return {label: by_level.get(int(Level.parse(label)), 0) for label in LEVEL_LABELS}


def _trend(rows: list[tuple[datetime, int, int]], start: datetime) -> list[TrendPoint]:
    hours = [start + timedelta(hours=h) for h in range(TREND_HOURS)]
    counts: dict[datetime, dict[int, int]] = {h: {} for h in hours}
    for hour, level, n in rows:
        counts.setdefault(hour, {})[level] = n
    return [TrendPoint(hour=h, by_level=_labels(counts[h])) for h in hours]


@router.get("/summary", response_model=WallSummary)
def wall_summary(
    conn: ConnDep,
    _: Watcher,
    tz: Annotated[str, Query(max_length=64, description="IANA time zone that says when today began")] = "Asia/Shanghai",
) -> WallSummary:
    """Devices and their online rate, alarms now, today and per hour of the last day, in one round trip."""
    zone = _zone(tz)
    now = datetime.now(UTC)
    day_start = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    trend_start = (now - timedelta(hours=TREND_HOURS - 1)).replace(minute=0, second=0, microsecond=0)
    devices = [DeviceCount(**d) for d in wall_reads.device_counts(conn)]
    today_level, today_hazard = wall_reads.fired_since_by(conn, day_start)
    return WallSummary(
        now=now,
        day_start=day_start,
        devices=devices,
        devices_total=sum(d.total for d in devices),
        devices_online=sum(d.online for d in devices),
        active_by_level=_labels(wall_reads.active_by_level(conn)),
        today_by_level=_labels(today_level),
        today_by_hazard=today_hazard,
        trend=_trend(wall_reads.fired_hourly(conn, trend_start, now + timedelta(seconds=1)), trend_start),
    )


@router.get("/map", response_class=JSONResponse, response_model=WallMap)
def wall_map(conn: ConnDep, _: Watcher) -> Response:
    """The map the wall paints first: districts as on the console map, then every asset as columns (id,
    lon, lat, worst level) and each coupled-risk link once. A fifth of the console map's size at 10,000 assets,
    built as JSON by PostgreSQL: no Python work per asset."""
    points, links = wall_reads.map_points_json(conn, COUPLING_FACTORS)
    districts = json.dumps(map_districts(conn), ensure_ascii=False, separators=(",", ":"))
    body = f'{{"districts":{districts},"assets":{points},"links":{links}}}'
    return Response(body, media_type="application/json")


def _centre(place: dict[str, Any]) -> tuple[float, float] | None:
    if place["lat"] is not None:
        return float(place["lat"]), float(place["lon"])
    polygon = (place["district"] or {}).get("polygon") or {}
    coords = polygon.get("coordinates") or []
    ring = coords[0] if polygon.get("type") == "Polygon" and coords else (coords[0][0] if coords else [])
    if not ring:
        return None
    return sum(p[1] for p in ring) / len(ring), sum(p[0] for p in ring) / len(ring)


@router.get("/alerts/{alert_id}/around", response_model=Around, responses=errors(404))
def alert_around(alert_id: BigId, conn: ConnDep, _: Watcher) -> Around:
    """The district's population and the critical facilities near the incident, with its first action."""
    view = alert_console_view(conn, alert_id)
    if view is None:
        raise HTTPException(404, f"alert {alert_id} not found")
    place = wall_reads.place_of(conn, view.get("asset_id"), view.get("district_id"))
    centre = _centre(place) if place else None
    near = wall_reads.facilities_near(conn, *centre, THREAT_RADIUS_M, THREATS_MAX + 1) if centre else []
    district = (place or {}).get("district") or {}
    zh, en = first_action(view["hazard"], Level.parse(view["level"]), get_rules())
    return Around(
        alert_id=alert_id,
        hazard=view["hazard"],
        level=view["level"],
        asset_id=view.get("asset_id"),
        asset_name=view.get("asset_name"),
        asset_name_zh=(place or {}).get("name_zh"),
        asset_name_en=(place or {}).get("name_en"),
        district_id=district.get("id"),
        district_name=district.get("name"),
        district_name_zh=district.get("name_zh"),
        district_name_en=district.get("name_en"),
        population=district.get("population"),
        radius_m=THREAT_RADIUS_M,
        facilities=[Facility(**f) for f in near[:THREATS_MAX]],
        facilities_partial=len(near) > THREATS_MAX,
        action_zh=view.get("action_zh") or zh,
        action_en=view.get("action_en") or en,
    )
