"""Read-only queries over the alert tables for reports, scoring and the API: plain dicts out."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, select

from alerts.model import Alert
from alerts.store import alert_from_row
from alerts.store.schema import alert_actions, alert_transitions, alerts, notifications, silences


def alert_history(conn: Connection, alert_id: int) -> dict[str, list[dict[str, Any]]]:
    """An alert's transitions, disposal actions and notifications, each oldest first."""
    out: dict[str, list[dict[str, Any]]] = {}
    for key, table in (
        ("transitions", alert_transitions),
        ("actions", alert_actions),
        ("notifications", notifications),
    ):
        out[key] = [
            dict(r)
            for r in conn.execute(select(table).where(table.c.alert_id == alert_id).order_by(table.c.id)).mappings()
        ]
    return out


def response_time_rows(
    conn: Connection, *, since: datetime | None = None, until: datetime | None = None, hazard: str | None = None
) -> list[dict[str, Any]]:
    """Per alert fired in the window (delivery failures aside): its responsible unit, hazard, when it fired and
    was acknowledged, and when its current firing first saw a unit on site and disposed."""
    steps = {}
    for step in ("on_site", "disposed"):
        steps[step] = (
            select(alert_actions.c.alert_id, alert_actions.c.fire_count, func.min(alert_actions.c.ts).label("ts"))
            .where(alert_actions.c.step == step)
            .group_by(alert_actions.c.alert_id, alert_actions.c.fire_count)
            .subquery(step)
        )
    unit_col = func.coalesce(alerts.c.assigned_unit, alerts.c.utility_id, "unassigned").label("unit")
    q = (
        select(
            unit_col,
            alerts.c.hazard,
            alerts.c.fired_at,
            alerts.c.acknowledged_at,
            steps["on_site"].c.ts.label("on_site_at"),
            steps["disposed"].c.ts.label("disposed_at"),
        )
        .select_from(alerts)
        .outerjoin(
            steps["on_site"],
            and_(steps["on_site"].c.alert_id == alerts.c.id, steps["on_site"].c.fire_count == alerts.c.fire_count),
        )
        .outerjoin(
            steps["disposed"],
            and_(steps["disposed"].c.alert_id == alerts.c.id, steps["disposed"].c.fire_count == alerts.c.fire_count),
        )
        .where(alerts.c.rule != "delivery_failed")
    )
    if since is not None:
        q = q.where(alerts.c.fired_at >= since)
    if until is not None:
        q = q.where(alerts.c.fired_at < until)
    if hazard is not None:
        q = q.where(alerts.c.hazard == hazard)
    return [dict(r) for r in conn.execute(q).mappings()]


def scored_alerts(conn: Connection) -> list[dict[str, Any]]:
    """Every alert but the delivery-failure ones (those are about the platform, not the city)."""
    return [dict(r) for r in conn.execute(select(alerts).where(alerts.c.rule != "delivery_failed")).mappings()]


def transition_data(conn: Connection) -> list[tuple[int, Any]]:
    """``(alert_id, data)`` of every transition."""
    return [(r[0], r[1]) for r in conn.execute(select(alert_transitions.c.alert_id, alert_transitions.c.data))]


def firings(conn: Connection) -> list[tuple[int, datetime]]:
    """``(alert_id, ts)`` of every fired or reopened transition, oldest first."""
    rows = conn.execute(
        select(alert_transitions.c.alert_id, alert_transitions.c.ts)
        .where(alert_transitions.c.kind.in_(["fired", "reopened"]))
        .order_by(alert_transitions.c.ts)
    ).mappings()
    return [(r["alert_id"], r["ts"]) for r in rows]


def reopened_after_override(conn: Connection) -> dict[int, int]:
    """Per alert, how many of its re-openings undid a person's resolution made while its condition still held
    (resolved with override): firings the platform owes to that resolution, not to a new incident."""
    code = alert_transitions.c.data["message"]["code"].astext
    rows = conn.execute(
        select(alert_transitions.c.alert_id, alert_transitions.c.kind, code)
        .where(alert_transitions.c.kind.in_(STATE_KINDS))
        .order_by(alert_transitions.c.alert_id, alert_transitions.c.id)
    )
    out: dict[int, int] = {}
    before: dict[int, str | None] = {}
    for aid, kind, said in rows:
        if kind == "reopened" and before.get(aid) == "alertmsg.resolved_override":
            out[aid] = out.get(aid, 0) + 1
        before[aid] = said if kind == "resolved" else None
    return out


def sent_messages(conn: Connection, *, created_until: datetime | None = None) -> list[dict[str, Any]]:
    """``alert_id, channel, kind, receiver`` of every notification that went or goes out (a message cancelled
    in its group_wait never reached anyone), optionally only those created up to ``created_until``."""
    q = select(notifications.c.alert_id, notifications.c.channel, notifications.c.kind, notifications.c.receiver).where(
        notifications.c.status != "cancelled"
    )
    if created_until is not None:
        q = q.where(notifications.c.created_at <= created_until)
    return [dict(r) for r in conn.execute(q).mappings()]


def list_alerts(
    conn: Connection,
    *,
    utility_id: str | None = None,
    states: Sequence[str] = (),
    levels: Sequence[int] = (),
    equal: dict[str, Any] | None = None,
    since: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Alert]:
    """Most severe, then most recently updated first; ``equal``: column -> value (None: any)."""
    q = select(alerts)
    if utility_id is not None:
        q = q.where(alerts.c.utility_id == utility_id)
    if states:
        q = q.where(alerts.c.state.in_(list(states)))
    if levels:
        q = q.where(alerts.c.level.in_(list(levels)))
    for col, val in (equal or {}).items():
        if val is not None:
            q = q.where(alerts.c[col] == val)
    if since is not None:
        q = q.where(alerts.c.updated_at >= since)
    rows = conn.execute(q.order_by(alerts.c.level.desc(), alerts.c.updated_at.desc()).limit(limit).offset(offset))
    return [alert_from_row(r) for r in rows]


def list_silences(conn: Connection, *, now: datetime, include_expired: bool = False) -> list[dict[str, Any]]:
    """Newest first; without ``include_expired`` only those not yet ended at ``now``."""
    q = select(silences).order_by(silences.c.id.desc())
    if not include_expired:
        q = q.where(silences.c.ends_at > now)
    return [dict(r) for r in conn.execute(q).mappings()]


def list_deliveries(conn: Connection, *, equal: dict[str, Any], limit: int = 100) -> list[dict[str, Any]]:
    """Outbox rows, newest first; ``equal``: column -> value (None: any)."""
    q = select(notifications).order_by(notifications.c.id.desc()).limit(limit)
    for col, val in equal.items():
        if val is not None:
            q = q.where(notifications.c[col] == val)
    return [dict(r) for r in conn.execute(q).mappings()]


STATE_KINDS = ("fired", "reopened", "recurred", "cleared", "resolved", "reviewed")


def state_history(conn: Connection, alert_ids: Iterable[int]) -> dict[int, list[tuple[datetime, str]]]:
    """Per alert, ``(ts, kind)`` of the transitions that change what the console shows, in the order they were
    made (id). A transition's ``ts`` is its source's time: a re-opening by a lagging engine may carry a time
    before the hand resolution it undid, so each ``ts`` is taken as at least its predecessor's (when it was
    seen), which keeps the order and the times of one history consistent."""
    ids = sorted(set(alert_ids))
    out: dict[int, list[tuple[datetime, str]]] = {i: [] for i in ids}
    if not ids:
        return out
    rows = conn.execute(
        select(alert_transitions.c.alert_id, alert_transitions.c.ts, alert_transitions.c.kind)
        .where(alert_transitions.c.alert_id.in_(ids), alert_transitions.c.kind.in_(STATE_KINDS))
        .order_by(alert_transitions.c.alert_id, alert_transitions.c.id)
    )
    for aid, ts, kind in rows:
        steps = out[aid]
        steps.append((max(ts, steps[-1][0]) if steps else ts, kind))
    return out
