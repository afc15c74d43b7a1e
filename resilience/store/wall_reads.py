"""The operations wall's reads: device totals and online counts, alarms of the day and their 24 h trend, and
what an incident threatens. Every count is aggregated in SQL, so the answer costs the same few queries at
10,000 assets as at ten.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
import math
from typing import Any

from sqlalchemy import Connection, text

# A sensor is offline while a health alert (silent or stuck) about it still holds, or while it is switched
# off in the registry; every other sensor counts as online.
_DEVICES = text("""
    WITH offline AS (
        SELECT DISTINCT s.value->>'sensor_id' AS sensor_id
        FROM alerts a, jsonb_each(a.sources) AS s
        WHERE a.source_type = 'health' AND a.cleared_at IS NULL AND a.sources <> '{}'::jsonb
    )
    SELECT s.utility_id, u.name AS utility_name, u.name_zh AS utility_name_zh, u.name_en AS utility_name_en,
           s.kind, count(*) AS total,
           count(*) FILTER (WHERE s.active AND o.sensor_id IS NULL) AS online
    FROM sensors s
    JOIN utilities u ON u.id = s.utility_id
    LEFT JOIN offline o ON o.sensor_id = s.id
    GROUP BY s.utility_id, u.name, u.name_zh, u.name_en, s.kind
    ORDER BY s.utility_id, s.kind
""")


# The wall's map in one statement, built as JSON text by PostgreSQL: every asset as parallel columns in id order
# (position to 1e-6 degree, ~0.1 m, and its worst level over its hazards) and each coupled-risk link once at
# its worst level. Decoding and re-encoding 10,000 rows in Python took most of the old map reply's time.
_MAP_POINTS = text("""
    WITH worst AS (
        SELECT substr(scope, 7) AS id, max(level) AS level FROM risk_current WHERE scope LIKE 'asset:%' GROUP BY 1
    ), points AS (
        SELECT a.id, round(a.lon::numeric, 6) AS lon, round(a.lat::numeric, 6) AS lat, coalesce(w.level, 0) AS level
        FROM assets a LEFT JOIN worst w ON w.id = a.id
    ), links AS (
        SELECT f->>'source' AS source, substr(r.scope, 7) AS target, max(r.level) AS level
        FROM risk_current r,
             jsonb_array_elements(CASE WHEN jsonb_typeof(r.factors) = 'array' THEN r.factors ELSE '[]' END) AS f
        WHERE r.scope LIKE 'asset:%' AND f->>'name' = ANY(:names) AND f->>'source' IS NOT NULL
        GROUP BY 1, 2
    )
    SELECT (SELECT json_build_object('id', coalesce(json_agg(id ORDER BY id), '[]'),
                                     'lon', coalesce(json_agg(lon ORDER BY id), '[]'),
                                     'lat', coalesce(json_agg(lat ORDER BY id), '[]'),
                                     'level', coalesce(json_agg(level ORDER BY id), '[]')) FROM points)::text,
           (SELECT coalesce(json_agg(json_build_object('source', source, 'target', target, 'level', level)
                                     ORDER BY target, source), '[]') FROM links)::text
""")


def map_points_json(conn: Connection, link_factors: Sequence[str]) -> tuple[str, str]:
    """(assets, links) of the wall's map as JSON text: ``{"id": [...], "lon": [...], "lat": [...], "level":
    [...]}`` and ``[{"source", "target", "level"}]``, levels as numbers (0 none .. 4 red)."""
    points, links = conn.execute(_MAP_POINTS, {"names": list(link_factors)}).one()
    return str(points), str(links)


def device_counts(conn: Connection) -> list[dict[str, Any]]:
    """(utility_id, utility_name[_zh|_en], kind, total, online) per utility and sensor kind."""
    return [dict(r) for r in conn.execute(_DEVICES).mappings()]


def active_by_level(conn: Connection) -> dict[int, int]:
    """Firing or acknowledged alerts per level (numeric), delivery failures left out."""
    rows = conn.execute(
        text(
            "SELECT level, count(*) FROM alerts WHERE state IN ('firing', 'acknowledged') "
            "AND rule <> 'delivery_failed' GROUP BY level"
        )
    )
    return {int(level): int(n) for level, n in rows}


def fired_since_by(conn: Connection, since: datetime) -> tuple[dict[int, int], dict[str, int]]:
    """Alerts that fired (or fired again) since ``since``: (count per level, count per hazard)."""
    rows = conn.execute(
        text(
            "SELECT level, hazard, count(*) FROM alerts WHERE fired_at >= :since AND rule <> 'delivery_failed' "
            "GROUP BY GROUPING SETS ((level), (hazard))"
        ),
        {"since": since},
    ).all()
    by_level = {int(r[0]): int(r[2]) for r in rows if r[0] is not None}
    by_hazard = {str(r[1]): int(r[2]) for r in rows if r[1] is not None}
    return by_level, by_hazard


def fired_hourly(conn: Connection, start: datetime, end: datetime) -> list[tuple[datetime, int, int]]:
    """(hour, level, count) of the alerts fired in [start, end), by the hour counted from ``start``."""
    rows = conn.execute(
        text(
            "SELECT date_bin('1 hour', fired_at, :start) AS hour, level, count(*) FROM alerts "
            "WHERE fired_at >= :start AND fired_at < :end AND rule <> 'delivery_failed' "
            "GROUP BY hour, level ORDER BY hour"
        ),
        {"start": start, "end": end},
    )
    return [(r[0], int(r[1]), int(r[2])) for r in rows]


_NEAR = text("""
    SELECT f.id, f.name, f.name_zh, f.name_en, f.attributes->>'facility' AS facility, f.lat, f.lon,
           round(111320 * sqrt(power(f.lat - :lat, 2) + power((f.lon - :lon) * cos(radians(:lat)), 2))) AS distance_m
    FROM assets f
    WHERE f.kind = 'critical_facility'
      AND f.lat BETWEEN :lat - :dlat AND :lat + :dlat AND f.lon BETWEEN :lon - :dlon AND :lon + :dlon
    ORDER BY distance_m
    LIMIT :limit
""")


def facilities_near(conn: Connection, lat: float, lon: float, radius_m: float, limit: int) -> list[dict[str, Any]]:
    """Critical facilities (hospitals, schools, metro stations) within ``radius_m`` of a point, nearest first
    (an equirectangular distance: metres off at most a few in a city)."""
    dlat = radius_m / 111_320
    dlon = dlat / max(0.1, math.cos(math.radians(lat)))
    rows = conn.execute(_NEAR, {"lat": lat, "lon": lon, "dlat": dlat, "dlon": dlon, "limit": limit}).mappings()
    return [dict(r) for r in rows if float(r["distance_m"]) <= radius_m]


def place_of(conn: Connection, asset_id: str | None, district_id: str | None) -> dict[str, Any] | None:
    """Where an incident is: its asset's point and names (lat, lon, name_zh, name_en; None for a district's
    incident) and its district's id, names, population and polygon (None where it has no district)."""
    point: dict[str, Any] = {"lat": None, "lon": None, "name_zh": None, "name_en": None}
    if asset_id:
        row = (
            conn.execute(
                text("SELECT lat, lon, district_id, name_zh, name_en FROM assets WHERE id = :a"), {"a": asset_id}
            )
            .mappings()
            .first()
        )
        if row is not None:
            point = {"lat": row["lat"], "lon": row["lon"], "name_zh": row["name_zh"], "name_en": row["name_en"]}
            district_id = row["district_id"] or district_id
    district = None
    if district_id:
        district = (
            conn.execute(
                text("SELECT id, name, name_zh, name_en, population, polygon FROM districts WHERE id = :d"),
                {"d": district_id},
            )
            .mappings()
            .first()
        )
    if point["lat"] is None and district is None:
        return None
    return {**point, "district": dict(district) if district is not None else None}
