"""SQL for the alert service; functions take the caller's connection (the caller owns the transaction)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from alerts.dedup import LogEntry
from alerts.model import Alert, AlertState, Transition
from alerts.schema import alert_actions, alert_transitions, alerts, notification_log, notifications, silences
from alerts.signals import AssetInfo
from alerts.silences import Matcher, Silence
from resilience.domain import Level
from resilience.store.schema import assets, districts, utilities

OUTBOX_CHANNEL = "lifeline_outbox"  # NOTIFY on every outbox insert; the dispatcher LISTENs

_FIELDS = [
    "fingerprint", "rule", "hazard", "scope", "source_type", "state", "asset_id", "district_id", "utility_id",
    "sensor_kind", "sources", "fire_count", "version", "explanation", "evidence", "action_zh", "action_en",
    "first_fired_at", "fired_at", "level_since", "updated_at", "cleared_at", "acknowledged_at", "acknowledged_by",
    "resolved_at", "resolved_by", "silenced", "inhibited", "parent_fingerprint", "escalation_tier", "assigned_unit",
]


def alert_from_row(row: Any) -> Alert:
    m = row._mapping
    kwargs = {k: m[k] for k in _FIELDS}
    kwargs["state"] = AlertState(m["state"])
    return Alert(id=m["id"], level=Level(m["level"]), peak_level=Level(m["peak_level"]), **kwargs)


def _values(a: Alert) -> dict[str, Any]:
    v = {k: getattr(a, k) for k in _FIELDS}
    v["state"] = a.state.value
    v["level"] = int(a.level)
    v["peak_level"] = int(a.peak_level)
    return v


def lock_fingerprint(conn: Connection, fp: str) -> None:
    """Serialise writers of one fingerprint (also when the row does not exist yet)."""
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:fp))"), {"fp": fp})


def get_alert(conn: Connection, *, alert_id: int | None = None, fingerprint: str | None = None,
              for_update: bool = False) -> Alert | None:
    q = select(alerts)
    q = q.where(alerts.c.id == alert_id) if alert_id is not None else q.where(alerts.c.fingerprint == fingerprint)
    if for_update:
        q = q.with_for_update()
    row = conn.execute(q).first()
    return alert_from_row(row) if row else None


def save_alert(conn: Connection, alert: Alert) -> Alert:
    if alert.id is None:
        alert.id = conn.execute(insert(alerts).values(**_values(alert)).returning(alerts.c.id)).scalar_one()
    else:
        conn.execute(update(alerts).where(alerts.c.id == alert.id).values(**_values(alert)))
    return alert


def add_transitions(conn: Connection, alert_id: int, transitions: list[Transition]) -> None:
    if not transitions:
        return
    conn.execute(insert(alert_transitions), [
        {"alert_id": alert_id, "ts": t.ts, "kind": t.kind, "actor": t.actor, "note": t.note,
         "from_state": t.from_state, "to_state": t.to_state,
         "level": int(t.level) if t.level is not None else None, "data": json.loads(json.dumps(t.data, default=str))}
        for t in transitions
    ])


def active_alerts(conn: Connection) -> list[Alert]:
    rows = conn.execute(select(alerts).where(alerts.c.state.in_(["firing", "acknowledged"])).order_by(alerts.c.id))
    return [alert_from_row(r) for r in rows]


def asset_info(conn: Connection, asset_id: str) -> AssetInfo | None:
    row = conn.execute(select(assets).where(assets.c.id == asset_id)).first()
    if row is None:
        return None
    m = row._mapping
    return AssetInfo(id=m["id"], name=m["name"], kind=m["kind"], district_id=m["district_id"],
                     utility_id=m["utility_id"], lat=m["lat"], lon=m["lon"], attributes=dict(m["attributes"] or {}))


def district_row(conn: Connection, district_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(districts).where(districts.c.id == district_id)).first()
    return dict(row._mapping) if row else None


def utility_contacts(conn: Connection, utility_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(utilities).where(utilities.c.id == utility_id)).first()
    return dict(row._mapping) if row else None


def silence_from_row(row: Any) -> Silence:
    m = row._mapping
    return Silence(matchers=tuple(Matcher(**x) for x in m["matchers"]), starts_at=m["starts_at"],
                   ends_at=m["ends_at"], created_by=m["created_by"], comment=m["comment"], id=m["id"],
                   created_at=m["created_at"])


def current_silences(conn: Connection, now: datetime) -> list[Silence]:
    """Silences not yet ended (active or pending); the Silencer checks the window itself."""
    return [silence_from_row(r) for r in conn.execute(select(silences).where(silences.c.ends_at > now))]


def insert_silence(conn: Connection, s: Silence, now: datetime) -> int:
    return int(conn.execute(insert(silences).values(
        matchers=[{"name": m.name, "value": m.value, "is_regex": m.is_regex, "is_equal": m.is_equal}
                  for m in s.matchers],
        starts_at=s.starts_at, ends_at=s.ends_at, created_by=s.created_by, comment=s.comment, created_at=now,
    ).returning(silences.c.id)).scalar_one())


def last_notified(conn: Connection, group_key: str, receiver: str) -> LogEntry | None:
    """What the receiver was last told (or is about to be told: pending outbox rows count)."""
    row = conn.execute(
        select(notifications.c.firing_keys, notifications.c.resolved_keys, notifications.c.created_at)
        .where(and_(notifications.c.group_key == group_key, notifications.c.receiver == receiver,
                    notifications.c.kind == "notify", notifications.c.status != "failed"))
        .order_by(notifications.c.id.desc()).limit(1)
    ).first()
    if row is None:
        row = conn.execute(
            select(notification_log.c.firing_keys, notification_log.c.resolved_keys, notification_log.c.sent_at)
            .where(and_(notification_log.c.group_key == group_key, notification_log.c.receiver == receiver))
        ).first()
    if row is None:
        return None
    return LogEntry(frozenset(row[0]), frozenset(row[1]), row[2])


def enqueue(conn: Connection, *, alert_id: int | None, group_key: str, kind: str, channel: str, receiver: str,
            target: str, idempotency_key: str, payload: dict[str, Any], firing: list[str], resolved: list[str],
            now: datetime) -> bool:
    """Insert one outbox row; a repeated key (replayed event) is a no-op. Returns whether a row was added."""
    res = conn.execute(pg_insert(notifications).values(
        alert_id=alert_id, group_key=group_key, kind=kind, channel=channel, receiver=receiver, target=target,
        idempotency_key=idempotency_key, payload=json.loads(json.dumps(payload, default=str)),
        firing_keys=sorted(firing), resolved_keys=sorted(resolved), status="pending", attempts=0,
        next_attempt_at=now, created_at=now,
    ).on_conflict_do_nothing(index_elements=["idempotency_key"]))
    if res.rowcount:
        # Delivered at commit (and folded into one per transaction): dispatchers LISTENing wake at once.
        conn.execute(text(f"NOTIFY {OUTBOX_CHANNEL}"))
    return bool(res.rowcount)


def record_notified(conn: Connection, *, group_key: str, receiver: str, firing: list[str], resolved: list[str],
                    now: datetime) -> None:
    stmt = pg_insert(notification_log).values(group_key=group_key, receiver=receiver, firing_keys=firing,
                                              resolved_keys=resolved, sent_at=now)
    conn.execute(stmt.on_conflict_do_update(
        constraint="uq_notification_log_group_receiver",
        set_={"firing_keys": stmt.excluded.firing_keys, "resolved_keys": stmt.excluded.resolved_keys,
              "sent_at": stmt.excluded.sent_at}))


def unalerted_failures(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(notifications).where(and_(notifications.c.status == "failed",
                                                         notifications.c.failure_alerted.is_(False)))
                        .with_for_update(skip_locked=True))
    return [dict(r._mapping) for r in rows]


def mark_failure_alerted(conn: Connection, notification_id: int) -> None:
    conn.execute(update(notifications).where(notifications.c.id == notification_id).values(failure_alerted=True))


def add_action(conn: Connection, *, alert_id: int, fire_count: int, step: str, unit: str | None, actor: str,
               note: str, ts: datetime) -> int:
    return int(conn.execute(insert(alert_actions).values(
        alert_id=alert_id, fire_count=fire_count, step=step, unit=unit, actor=actor, note=note, ts=ts,
    ).returning(alert_actions.c.id)).scalar_one())


def count_children(conn: Connection, parent_fingerprint: str) -> list[dict[str, Any]]:
    rows = conn.execute(select(alerts.c.id, alerts.c.asset_id, alerts.c.level, alerts.c.rule)
                        .where(and_(alerts.c.parent_fingerprint == parent_fingerprint,
                                    alerts.c.state.in_(["firing", "acknowledged"]))))
    return [{"id": r.id, "asset_id": r.asset_id, "level": Level(r.level).label, "rule": r.rule} for r in rows]


def now_db(conn: Connection) -> datetime:
    return conn.execute(select(func.now())).scalar_one()
