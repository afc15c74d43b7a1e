"""Reads of the alert audit log for the live streams (the dashboard's and the console's).

Every insert into ``alert_transitions`` sends ``NOTIFY lifeline_alerts`` in its own transaction (a trigger,
migration 0008), so a listener wakes exactly when a change is visible. ``read_after`` is the one read an API
process's feed makes per wake-up: the new audit entries and, for each alert they touch, its whole current
view with its asset's and district's names, which both streams need.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, select

from alerts import store
from alerts.api_support import alert_view
from alerts.store.schema import alert_transitions, alerts
from resilience.store.schema import assets, districts

CHANNEL = "lifeline_alerts"  # NOTIFY on every audit entry (trigger of migration 0008)
SNAPSHOT_ACTIVE = 5000  # firing/acknowledged alerts sent on connect, most severe first
SNAPSHOT_RECENT = 500  # resolved/closed alerts of the last day sent on connect
RECENT = timedelta(hours=24)


@dataclass(frozen=True)
class FeedBatch:
    """Audit entries after some cursor, oldest first, and the current view of every alert they touch."""

    cursor: int  # the last entry's id (the previous cursor when there is none)
    entries: list[dict[str, Any]] = field(default_factory=list)
    views: dict[int, dict[str, Any]] = field(default_factory=dict)


Names = dict[str, tuple[str, str | None, str | None]]  # id -> (name of record, Chinese, English)


def _names(conn: Connection, asset_ids: set[str], district_ids: set[str]) -> tuple[Names, Names]:
    a: Names = {}
    if asset_ids:
        q = select(assets.c.id, assets.c.name, assets.c.name_zh, assets.c.name_en).where(assets.c.id.in_(asset_ids))
        a = {k: (n, zh, en) for k, n, zh, en in conn.execute(q)}
    d: Names = {}
    if district_ids:
        q = select(districts.c.id, districts.c.name, districts.c.name_zh, districts.c.name_en).where(
            districts.c.id.in_(district_ids)
        )
        d = {k: (n, zh, en) for k, n, zh, en in conn.execute(q)}
    return a, d


def _named(prefix: str, names: Names, key: str | None) -> dict[str, str | None]:
    """``<prefix>`` (the name of record), ``<prefix>_zh`` and ``<prefix>_en``: the console shows the reader's."""
    name, zh, en = names.get(key or "", (None, None, None))
    return {prefix: name, f"{prefix}_zh": zh, f"{prefix}_en": en}


def console_views(conn: Connection, rows: list[Any]) -> list[dict[str, Any]]:
    """Alert views with the asset's and district's names, which the list shows instead of bare ids."""
    found = [store.alert_from_row(r) for r in rows]
    asset_names, district_names = _names(
        conn, {a.asset_id for a in found if a.asset_id}, {a.district_id for a in found if a.district_id}
    )
    return [
        {
            **alert_view(a),
            "row_version": a.row_version,
            **_named("asset_name", asset_names, a.asset_id),
            **_named("district_name", district_names, a.district_id),
        }
        for a in found
    ]


def alert_console_view(conn: Connection, alert_id: int) -> dict[str, Any] | None:
    """One alert's console view, or None."""
    row = conn.execute(select(alerts).where(alerts.c.id == alert_id)).first()
    return console_views(conn, [row])[0] if row is not None else None


def latest_entry_id(engine: Engine) -> int:
    with engine.connect() as c:
        return c.execute(select(alert_transitions.c.id).order_by(alert_transitions.c.id.desc()).limit(1)).scalar() or 0


def read_after(engine: Engine, cursor: int, limit: int, *, until: int | None = None) -> FeedBatch:
    """Up to ``limit`` audit entries after ``cursor`` (and at most ``until``), with their alerts' views."""
    with engine.connect() as conn:
        q = select(alert_transitions).where(alert_transitions.c.id > cursor)
        if until is not None:
            q = q.where(alert_transitions.c.id <= until)
        entries = [dict(e) for e in conn.execute(q.order_by(alert_transitions.c.id).limit(limit)).mappings()]
        if not entries:
            return FeedBatch(cursor)
        ids = list(dict.fromkeys(e["alert_id"] for e in entries))
        rows = list(conn.execute(select(alerts).where(alerts.c.id.in_(ids))))
        views = {v["id"]: v for v in console_views(conn, rows)}
    return FeedBatch(entries[-1]["id"], entries, views)


def snapshot(engine: Engine, now: datetime) -> tuple[int, list[dict[str, Any]]]:
    """The starting cursor, then the alerts the console shows: every active one, and the last day's others."""
    with engine.connect() as conn:
        cursor = (
            conn.execute(select(alert_transitions.c.id).order_by(alert_transitions.c.id.desc()).limit(1)).scalar() or 0
        )
        order = (alerts.c.level.desc(), alerts.c.updated_at.desc())
        active = conn.execute(
            select(alerts).where(alerts.c.state.in_(["firing", "acknowledged"])).order_by(*order).limit(SNAPSHOT_ACTIVE)
        ).all()
        recent = conn.execute(
            select(alerts)
            .where(alerts.c.state.in_(["resolved", "closed"]), alerts.c.updated_at >= now - RECENT)
            .order_by(alerts.c.updated_at.desc())
            .limit(SNAPSHOT_RECENT)
        ).all()
        return cursor, console_views(conn, [*active, *recent])
