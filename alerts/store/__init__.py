"""SQL for the alert service; functions take the caller's connection (the caller owns the transaction)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, insert, select, text, update

from alerts.model import Alert, AlertState, Transition
from alerts.store.schema import alert_actions, alert_transitions, alerts, notifications, silences
from alerts.signals import AssetInfo
from alerts.silences import Matcher, Silence
from resilience.core.domain import Level
from resilience.store.schema import assets, districts, utilities

# re-exported: callers use ``store.enqueue`` and the rest through this package
from alerts.store.outbox_rows import NOTIFY_KINDS as NOTIFY_KINDS
from alerts.store.outbox_rows import OUTBOX_CHANNEL as OUTBOX_CHANNEL
from alerts.store.outbox_rows import cancel_unsent as cancel_unsent
from alerts.store.outbox_rows import enqueue as enqueue
from alerts.store.outbox_rows import last_notified as last_notified
from alerts.store.outbox_rows import record_notified as record_notified


_FIELDS = [
    "fingerprint",
    "rule",
    "hazard",
    "scope",
    "source_type",
    "state",
    "asset_id",
    "district_id",
    "utility_id",
    "sensor_kind",
    "sources",
    "fire_count",
    "version",
    "explanation",
    "evidence",
    "action_zh",
    "action_en",
    "first_fired_at",
    "fired_at",
    "level_since",
    "updated_at",
    "cleared_at",
    "acknowledged_at",
    "acknowledged_by",
    "resolved_at",
    "resolved_by",
    "silenced",
    "inhibited",
    "parent_fingerprint",
    "escalation_tier",
    "assigned_unit",
]


class StaleAlertError(RuntimeError):
    """The alert row changed since it was read (optimistic locking): re-read and redo the change.

    Raised by ``save_alert`` instead of overwriting someone else's update (an operator's acknowledgement
    landing between the engine's read and its write); ``alerts.retry`` redoes the transaction.
    """

    def __init__(self, alert_id: int, read_version: int, current: int | None) -> None:
        self.alert_id = alert_id
        self.read_version = read_version
        self.current = current
        now = "deleted" if current is None else f"now at row_version {current}"
        super().__init__(f"alert {alert_id} changed since it was read at row_version {read_version} ({now})")


def alert_from_row(row: Any) -> Alert:
    m = row._mapping
    kwargs = {k: m[k] for k in _FIELDS}
    kwargs["state"] = AlertState(m["state"])
    return Alert(
        id=m["id"], level=Level(m["level"]), peak_level=Level(m["peak_level"]), row_version=m["row_version"], **kwargs
    )


def _values(a: Alert) -> dict[str, Any]:
    v = {k: getattr(a, k) for k in _FIELDS}
    v["state"] = a.state.value
    v["level"] = int(a.level)
    v["peak_level"] = int(a.peak_level)
    return v


def lock_fingerprint(conn: Connection, fp: str) -> None:
    """Serialise writers of one fingerprint (also when the row does not exist yet)."""
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:fp))"), {"fp": fp})


def get_alert(
    conn: Connection, *, alert_id: int | None = None, fingerprint: str | None = None, for_update: bool = False
) -> Alert | None:
    q = select(alerts)
    q = q.where(alerts.c.id == alert_id) if alert_id is not None else q.where(alerts.c.fingerprint == fingerprint)
    if for_update:
        q = q.with_for_update()
    row = conn.execute(q).first()
    return alert_from_row(row) if row else None


def save_alert(conn: Connection, alert: Alert) -> Alert:
    """Insert a new alert, or update it only if nobody saved it since it was read (``row_version``).

    The check is in the UPDATE's WHERE, so under READ COMMITTED it also holds against a writer that
    commits while we wait for its row lock. Raises StaleAlertError rather than overwrite a newer row.
    """
    if alert.id is None:
        alert.id = conn.execute(
            insert(alerts).values(**_values(alert), row_version=0).returning(alerts.c.id)
        ).scalar_one()
        alert.row_version = 0
        return alert
    saved = conn.execute(
        update(alerts)
        .where(alerts.c.id == alert.id, alerts.c.row_version == alert.row_version)
        .values(**_values(alert), row_version=alerts.c.row_version + 1)
        .returning(alerts.c.row_version)
    ).scalar()
    if saved is None:
        current = conn.execute(select(alerts.c.row_version).where(alerts.c.id == alert.id)).scalar()
        raise StaleAlertError(alert.id, alert.row_version, current)
    alert.row_version = saved
    return alert


def add_transitions(conn: Connection, alert_id: int, transitions: list[Transition]) -> None:
    if not transitions:
        return
    conn.execute(
        insert(alert_transitions),
        [
            {
                "alert_id": alert_id,
                "ts": t.ts,
                "kind": t.kind,
                "actor": t.actor,
                "note": t.note,
                "from_state": t.from_state,
                "to_state": t.to_state,
                "level": int(t.level) if t.level is not None else None,
                "data": json.loads(json.dumps(t.data, default=str)),
            }
            for t in transitions
        ],
    )


def active_alerts(conn: Connection) -> list[Alert]:
    rows = conn.execute(select(alerts).where(alerts.c.state.in_(["firing", "acknowledged"])).order_by(alerts.c.id))
    return [alert_from_row(r) for r in rows]


def active_alerts_with_source(conn: Connection, source_key: str, hazard: str) -> list[Alert]:
    """Alerts for ``hazard`` still fed by ``source_key`` (e.g. a neighbour's coupled risk), locked: active
    ones, and resolved ones whose condition is still followed until the source ends."""
    rows = conn.execute(
        select(alerts)
        .where(alerts.c.hazard == hazard, alerts.c.sources.has_key(source_key))
        .order_by(alerts.c.id)
        .with_for_update()
    )
    return [alert_from_row(r) for r in rows]


def resolved_alerts_holding_condition(conn: Connection, since: datetime) -> list[Alert]:
    """Alerts resolved (or reviewed) since ``since`` whose condition has not cleared: re-opening candidates."""
    rows = conn.execute(
        select(alerts)
        .where(
            alerts.c.state.in_(["resolved", "closed"]),
            alerts.c.cleared_at.is_(None),
            alerts.c.resolved_at >= since,
            alerts.c.sources != text("'{}'::jsonb"),
        )
        .order_by(alerts.c.id)
        .with_for_update()
    )
    return [alert_from_row(r) for r in rows]


def asset_info(conn: Connection, asset_id: str) -> AssetInfo | None:
    row = conn.execute(select(assets).where(assets.c.id == asset_id)).first()
    if row is None:
        return None
    m = row._mapping
    return AssetInfo(
        id=m["id"],
        name=m["name"],
        kind=m["kind"],
        district_id=m["district_id"],
        utility_id=m["utility_id"],
        lat=m["lat"],
        lon=m["lon"],
        attributes=dict(m["attributes"] or {}),
        name_zh=m["name_zh"],
        name_en=m["name_en"],
    )


def district_row(conn: Connection, district_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(districts).where(districts.c.id == district_id)).first()
    return dict(row._mapping) if row else None


def utility_contacts(conn: Connection, utility_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(utilities).where(utilities.c.id == utility_id)).first()
    return dict(row._mapping) if row else None


def silence_from_row(row: Any) -> Silence:
    m = row._mapping
    return Silence(
        matchers=tuple(Matcher(**x) for x in m["matchers"]),
        starts_at=m["starts_at"],
        ends_at=m["ends_at"],
        created_by=m["created_by"],
        comment=m["comment"],
        id=m["id"],
        created_at=m["created_at"],
    )


def current_silences(conn: Connection, now: datetime) -> list[Silence]:
    """Silences not yet ended (active or pending); the Silencer checks the window itself."""
    return [silence_from_row(r) for r in conn.execute(select(silences).where(silences.c.ends_at > now))]


def insert_silence(conn: Connection, s: Silence, now: datetime) -> int:
    return int(
        conn.execute(
            insert(silences)
            .values(
                matchers=[
                    {"name": m.name, "value": m.value, "is_regex": m.is_regex, "is_equal": m.is_equal}
                    for m in s.matchers
                ],
                starts_at=s.starts_at,
                ends_at=s.ends_at,
                created_by=s.created_by,
                comment=s.comment,
                created_at=now,
            )
            .returning(silences.c.id)
        ).scalar_one()
    )


def unalerted_failures(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(notifications)
        .where(and_(notifications.c.status == "failed", notifications.c.failure_alerted.is_(False)))
        .with_for_update(skip_locked=True)
    )
    return [dict(r._mapping) for r in rows]


def mark_failure_alerted(conn: Connection, notification_id: int) -> None:
    conn.execute(update(notifications).where(notifications.c.id == notification_id).values(failure_alerted=True))


def recorded_steps(conn: Connection, alert_id: int, fire_count: int) -> dict[str, datetime]:
    """The disposal steps recorded for one firing of an alert, each with when it was first recorded."""
    rows = conn.execute(
        select(alert_actions.c.step, alert_actions.c.ts)
        .where(alert_actions.c.alert_id == alert_id, alert_actions.c.fire_count == fire_count)
        .order_by(alert_actions.c.ts)
    )
    out: dict[str, datetime] = {}
    for step, ts in rows:
        out.setdefault(step, ts)
    return out


def add_action(
    conn: Connection,
    *,
    alert_id: int,
    fire_count: int,
    step: str,
    unit: str | None,
    actor: str,
    note: str,
    ts: datetime,
) -> int:
    return int(
        conn.execute(
            insert(alert_actions)
            .values(
                alert_id=alert_id,
                fire_count=fire_count,
                step=step,
                unit=unit,
                actor=actor,
                note=note,
                ts=ts,
            )
            .returning(alert_actions.c.id)
        ).scalar_one()
    )


def active_children(conn: Connection, parent_fingerprint: str) -> list[Alert]:
    """The active alerts grouped under an incident's alert (its member assets' alerts), locked."""
    rows = conn.execute(
        select(alerts)
        .where(alerts.c.parent_fingerprint == parent_fingerprint, alerts.c.state.in_(["firing", "acknowledged"]))
        .order_by(alerts.c.id)
        .with_for_update()
    )
    return [alert_from_row(r) for r in rows]


def count_children(conn: Connection, parent_fingerprint: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(alerts.c.id, alerts.c.asset_id, alerts.c.level, alerts.c.rule).where(
            and_(alerts.c.parent_fingerprint == parent_fingerprint, alerts.c.state.in_(["firing", "acknowledged"]))
        )
    )
    return [{"id": r.id, "asset_id": r.asset_id, "level": Level(r.level).label, "rule": r.rule} for r in rows]
