"""Response-time report: how fast each responsible unit acknowledges, arrives and disposes, per hazard."""

from __future__ import annotations

import statistics
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, select

from alerts.schema import alert_actions, alerts


def _stats(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0, "median_s": None, "mean_s": None, "max_s": None}
    return {"count": len(values), "median_s": statistics.median(values), "mean_s": statistics.fmean(values),
            "max_s": max(values)}


def response_times(conn: Connection, *, since: datetime | None = None, until: datetime | None = None,
                   unit: str | None = None, hazard: str | None = None) -> list[dict[str, Any]]:
    """Fire->ack, fire->on-site, fire->disposed per (unit, hazard), for alerts first fired in the window."""
    steps = {}
    for step in ("on_site", "disposed"):
        steps[step] = (
            select(alert_actions.c.alert_id, alert_actions.c.fire_count, func.min(alert_actions.c.ts).label("ts"))
            .where(alert_actions.c.step == step).group_by(alert_actions.c.alert_id, alert_actions.c.fire_count)
            .subquery(step)
        )
    unit_col = func.coalesce(alerts.c.assigned_unit, alerts.c.utility_id, "unassigned").label("unit")
    q = (
        select(unit_col, alerts.c.hazard, alerts.c.fired_at, alerts.c.acknowledged_at,
               steps["on_site"].c.ts.label("on_site_at"), steps["disposed"].c.ts.label("disposed_at"))
        .select_from(alerts)
        .outerjoin(steps["on_site"], and_(steps["on_site"].c.alert_id == alerts.c.id,
                                          steps["on_site"].c.fire_count == alerts.c.fire_count))
        .outerjoin(steps["disposed"], and_(steps["disposed"].c.alert_id == alerts.c.id,
                                           steps["disposed"].c.fire_count == alerts.c.fire_count))
        .where(alerts.c.rule != "delivery_failed")
    )
    if since is not None:
        q = q.where(alerts.c.fired_at >= since)
    if until is not None:
        q = q.where(alerts.c.fired_at < until)
    if hazard is not None:
        q = q.where(alerts.c.hazard == hazard)
    groups: dict[tuple[str, str], dict[str, list[float]]] = {}
    for r in conn.execute(q).mappings():
        if unit is not None and r["unit"] != unit:
            continue
        g = groups.setdefault((r["unit"], r["hazard"]), {"ack": [], "on_site": [], "disposed": [], "n": []})
        g["n"].append(1.0)
        for key, col in (("ack", "acknowledged_at"), ("on_site", "on_site_at"), ("disposed", "disposed_at")):
            if r[col] is not None:
                g[key].append(max(0.0, (r[col] - r["fired_at"]).total_seconds()))
    return [
        {"unit": u, "hazard": h, "alerts": len(g["n"]), "fire_to_ack": _stats(g["ack"]),
         "fire_to_on_site": _stats(g["on_site"]), "fire_to_disposed": _stats(g["disposed"])}
        for (u, h), g in sorted(groups.items())
    ]
