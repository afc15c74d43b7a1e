"""The console's reads (map, asset page, spectrum replay, response times), one function per query.

The routes (``resilience.api.routes.console_data``) shape these rows for one screen each; the SQL is here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, select, text

from alerts.model import Alert
from alerts.store import alert_from_row
from alerts.store.schema import alert_actions, alerts
from resilience.store.schema import assets, districts, risk_current, sensors


def district_rows(conn: Connection) -> list[dict[str, Any]]:
    q = select(
        districts.c.id,
        districts.c.name,
        districts.c.name_zh,
        districts.c.name_en,
        districts.c.population,
        districts.c.polygon,
    ).order_by(districts.c.id)
    return [dict(r) for r in conn.execute(q).mappings()]


def district_names(conn: Connection) -> dict[str, str]:
    return {k: v for k, v in conn.execute(select(districts.c.id, districts.c.name))}


# only the factors the map draws leave the database: decoding every factor of 3,000 assets x hazards took
# most of the map's time
_LEVELS_AND_FACTORS = text("""
    SELECT scope, hazard, level,
           CASE WHEN jsonb_typeof(factors) = 'array' THEN
               (SELECT coalesce(jsonb_agg(f), '[]'::jsonb) FROM jsonb_array_elements(factors) AS f
                WHERE f->>'name' = ANY(:names) AND f->>'source' IS NOT NULL)
           ELSE '[]'::jsonb END
    FROM risk_current WHERE scope LIKE :prefix
""")


def risk_levels(
    conn: Connection, scope_prefix: str, factor_names: Sequence[str] = ()
) -> list[tuple[str, str, int, list[dict[str, Any]]]]:
    """(scope, hazard, level, factors) of every current risk whose scope starts with ``scope_prefix``; of
    its factors only those named in ``factor_names`` that have a source (none if no names are given)."""
    if not factor_names:
        q = select(risk_current.c.scope, risk_current.c.hazard, risk_current.c.level).where(
            risk_current.c.scope.like(f"{scope_prefix}%")
        )
        return [(r[0], r[1], r[2], []) for r in conn.execute(q)]
    rows = conn.execute(_LEVELS_AND_FACTORS, {"names": list(factor_names), "prefix": f"{scope_prefix}%"})
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def asset_rows(conn: Connection) -> list[dict[str, Any]]:
    q = select(
        assets.c.id,
        assets.c.name,
        assets.c.name_zh,
        assets.c.name_en,
        assets.c.kind,
        assets.c.district_id,
        assets.c.lat,
        assets.c.lon,
        assets.c.criticality,
    ).order_by(assets.c.id)
    return [dict(r) for r in conn.execute(q).mappings()]


def asset_row(conn: Connection, asset_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(assets).where(assets.c.id == asset_id)).mappings().first()
    return dict(row) if row is not None else None


def asset_sensors(conn: Connection, asset_id: str) -> list[dict[str, Any]]:
    q = select(sensors).where(sensors.c.asset_id == asset_id).order_by(sensors.c.id)
    return [dict(r) for r in conn.execute(q).mappings()]


def scope_risk(conn: Connection, scope: str) -> list[dict[str, Any]]:
    """The current risk rows of one scope, most severe first."""
    q = select(risk_current).where(risk_current.c.scope == scope).order_by(risk_current.c.level.desc())
    return [dict(r) for r in conn.execute(q).mappings()]


def district_levels_before(conn: Connection, start: datetime) -> list[Row[Any]]:
    """(scope, hazard, level): each district's last level in the week before ``start``."""
    return list(
        conn.execute(
            text(
                "SELECT DISTINCT ON (scope, hazard) scope, hazard, level FROM risk_series "
                "WHERE scope LIKE 'district:%' AND ts < :start AND ts >= :start - interval '7 days' "
                "ORDER BY scope, hazard, ts DESC"
            ),
            {"start": start},
        )
    )


def district_levels_binned(conn: Connection, step: timedelta, start: datetime, end: datetime) -> list[Row[Any]]:
    """(scope, hazard, b, top, last): per district, hazard and step bin its highest and its last level."""
    return list(
        conn.execute(
            text(
                "SELECT scope, hazard, date_bin(:step, ts, :start) AS b, max(level) AS top, "
                "(array_agg(level ORDER BY ts DESC))[1] AS last FROM risk_series "
                "WHERE scope LIKE 'district:%' AND ts >= :start AND ts < :end GROUP BY scope, hazard, b"
            ),
            {"step": step, "start": start, "end": end},
        )
    )


def fired_alerts(conn: Connection, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Alerts fired in [start, end) other than delivery failures, with what response times need."""
    q = select(
        alerts.c.id,
        alerts.c.hazard,
        alerts.c.level,
        alerts.c.district_id,
        alerts.c.fire_count,
        alerts.c.fired_at,
        alerts.c.acknowledged_at,
    ).where(alerts.c.fired_at >= start, alerts.c.fired_at < end, alerts.c.rule != "delivery_failed")
    return [dict(r) for r in conn.execute(q).mappings()]


def site_actions(conn: Connection, alert_ids: list[int]) -> list[dict[str, Any]]:
    """The on-site and disposed actions of these alerts."""
    if not alert_ids:
        return []
    q = select(alert_actions.c.alert_id, alert_actions.c.fire_count, alert_actions.c.step, alert_actions.c.ts).where(
        alert_actions.c.step.in_(["on_site", "disposed"]), alert_actions.c.alert_id.in_(alert_ids)
    )
    return [dict(r) for r in conn.execute(q).mappings()]


_CURRENT_VALUES = text("""
    SELECT v.sensor_id, s.kind, s.unit, r.ts, r.value
    FROM unnest(CAST(:ids AS text[])) AS v(sensor_id)
    JOIN sensors s ON s.id = v.sensor_id
    LEFT JOIN LATERAL (
        SELECT ts, value FROM readings WHERE sensor_id = v.sensor_id AND ts > :since ORDER BY ts DESC LIMIT 1
    ) r ON true
""")


def current_values(conn: Connection, sensor_ids: Sequence[str], since: datetime) -> dict[str, dict[str, Any]]:
    """Each sensor's newest reading after ``since`` (None where it has none): one index probe per sensor in
    the partitions ``since`` leaves, so a page of alerts costs a few milliseconds."""
    if not sensor_ids:
        return {}
    rows = conn.execute(_CURRENT_VALUES, {"ids": sorted(set(sensor_ids)), "since": since}).mappings()
    return {r["sensor_id"]: dict(r) for r in rows}


def sensor_extremes(
    conn: Connection, sensor_ids: Sequence[str], since: datetime
) -> dict[str, tuple[float | None, float | None]]:
    """Each sensor's (min, max) since ``since``: the alert's peak, read when one alert is opened."""
    if not sensor_ids:
        return {}
    rows = conn.execute(
        text(
            "SELECT sensor_id, min(value), max(value) FROM readings "
            "WHERE sensor_id = ANY(:ids) AND ts >= :since GROUP BY sensor_id"
        ),
        {"ids": sorted(set(sensor_ids)), "since": since},
    ).all()
    return {r[0]: (r[1], r[2]) for r in rows}


def live_alerts(conn: Connection, limit: int) -> list[Alert]:
    """Alerts whose values the console keeps current: the active ones, and resolved ones whose condition
    still holds (they are about to re-open), newest first."""
    q = (
        select(alerts)
        .where(
            alerts.c.state.in_(["firing", "acknowledged"])
            | (alerts.c.cleared_at.is_(None) & (alerts.c.sources != text("'{}'::jsonb")))
        )
        .order_by(alerts.c.id.desc())
        .limit(limit)
    )
    return [alert_from_row(r) for r in conn.execute(q)]
