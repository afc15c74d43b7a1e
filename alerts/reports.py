"""Response-time report: how fast each responsible unit acknowledges, arrives and disposes, per hazard."""

from __future__ import annotations

import statistics
from datetime import datetime
from typing import Any

from alerts.store.reads import response_time_rows
from resilience.store.db import Connection


def _stats(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0, "median_s": None, "mean_s": None, "max_s": None}
    return {
        "count": len(values),
        "median_s": statistics.median(values),
        "mean_s": statistics.fmean(values),
        "max_s": max(values),
    }


def response_times(
    conn: Connection,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    unit: str | None = None,
    hazard: str | None = None,
) -> list[dict[str, Any]]:
    """Fire->ack, fire->on-site, fire->disposed per (unit, hazard), for alerts first fired in the window."""
    groups: dict[tuple[str, str], dict[str, list[float]]] = {}
    for r in response_time_rows(conn, since=since, until=until, hazard=hazard):
        if unit is not None and r["unit"] != unit:
            continue
        g = groups.setdefault((r["unit"], r["hazard"]), {"ack": [], "on_site": [], "disposed": [], "n": []})
        g["n"].append(1.0)
        for key, col in (("ack", "acknowledged_at"), ("on_site", "on_site_at"), ("disposed", "disposed_at")):
            if r[col] is not None:
                g[key].append(max(0.0, (r[col] - r["fired_at"]).total_seconds()))
    return [
        {
            "unit": u,
            "hazard": h,
            "alerts": len(g["n"]),
            "fire_to_ack": _stats(g["ack"]),
            "fire_to_on_site": _stats(g["on_site"]),
            "fire_to_disposed": _stats(g["disposed"]),
        }
        for (u, h), g in sorted(groups.items())
    ]
