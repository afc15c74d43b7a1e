"""SQL for the alert service; functions take the caller's connection (the caller owns the transaction)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from alerts.dedup import LogEntry
from alerts.model import Alert, AlertState, Transition
from alerts.store.schema import alert_actions, alert_transitions, alerts, notification_log, notifications, silences
from alerts.signals import AssetInfo
from alerts.silences import Matcher, Silence
from resilience.domain import Level
from resilience.store.schema import assets, districts, utilities

OUTBOX_CHANNEL = "lifeline_outbox"  # NOTIFY on every outbox insert; the dispatcher LISTENs
NOTIFY_KINDS = ("firing", "update", "resolved")  # what receivers are told through routes (dedup, notification log)

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
    """Active alerts for ``hazard`` fed by ``source_key`` (e.g. a neighbour's coupled risk), locked."""
    rows = conn.execute(
        select(alerts)
        .where(
            alerts.c.state.in_(["firing", "acknowledged"]),
            alerts.c.hazard == hazard,
            alerts.c.sources.has_key(source_key),
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


def last_notified(conn: Connection, group_key: str, receiver: str) -> LogEntry | None:
    """What the receiver was last told (or is about to be told: pending outbox rows count)."""
    row = conn.execute(
        select(
            notifications.c.firing_keys,
            notifications.c.resolved_keys,
            notifications.c.created_at,
            notifications.c.due_at,
            notifications.c.status,
            notifications.c.attempts,
        )
        .where(
            and_(
                notifications.c.group_key == group_key,
                notifications.c.receiver == receiver,
                notifications.c.kind.in_(NOTIFY_KINDS),
                notifications.c.status.notin_(["failed", "cancelled"]),
            )
        )
        .order_by(notifications.c.id.desc())
        .limit(1)
    ).first()
    if row is not None:
        return LogEntry(
            frozenset(row[0]),
            frozenset(row[1]),
            row[2],
            due=row[3] or row[2],
            pending=row[4] == "pending" and row[5] == 0,
        )
    logged = conn.execute(
        select(notification_log.c.firing_keys, notification_log.c.resolved_keys, notification_log.c.sent_at).where(
            and_(notification_log.c.group_key == group_key, notification_log.c.receiver == receiver)
        )
    ).first()
    if logged is None:
        return None
    return LogEntry(frozenset(logged[0]), frozenset(logged[1]), logged[2], due=logged[2])


def _same_target(channel: str, target: str) -> Any:
    """Same recipient: MQTT topics carry the level (alerts/<district>/<level>), so any topic is the same
    dashboard; other channels' targets are addresses."""
    return text("true") if channel == "mqtt" else notifications.c.target == target


def _unsent(group_key: str, receiver: str | None, kinds: tuple[str, ...]) -> Any:
    """Outbox rows of a group not yet picked up by a dispatcher (never claimed): still free to change."""
    cond = [
        notifications.c.group_key == group_key,
        notifications.c.status == "pending",
        notifications.c.attempts == 0,
        notifications.c.kind.in_(kinds),
    ]
    if receiver is not None:
        cond.append(notifications.c.receiver == receiver)
    return and_(*cond)


def cancel_unsent(
    conn: Connection,
    group_key: str,
    *,
    receiver: str | None = None,
    channel: str | None = None,
    target: str | None = None,
    now: datetime,
) -> list[str]:
    """Cancel the group's firing/update messages still in their wait (due later than ``now``, never claimed);
    returns the kinds cancelled (a message already due counts as told: the dispatcher is only behind).

    Used when what they say is superseded before they went out: the alert was grouped under a district alert,
    silenced or inhibited, or resolved (a receiver that never heard of an alert gets no all-clear either).
    """
    cond = and_(_unsent(group_key, receiver, ("firing", "update")), notifications.c.next_attempt_at > now)
    if channel is not None:
        cond = and_(cond, notifications.c.channel == channel, _same_target(channel, target or ""))
    rows = conn.execute(
        update(notifications)
        .where(cond)
        .values(status="cancelled", last_error=f"cancelled {now}")
        .returning(notifications.c.kind)
    )
    return [r[0] for r in rows]


def enqueue(
    conn: Connection,
    *,
    alert_id: int | None,
    group_key: str,
    kind: str,
    channel: str,
    receiver: str,
    target: str,
    idempotency_key: str,
    payload: dict[str, Any],
    firing: list[str],
    resolved: list[str],
    now: datetime,
    due_at: datetime | None = None,
    coalesce: bool = False,
) -> bool:
    """Insert one outbox row, due at ``due_at`` (default now); a repeated key (replayed event) is a no-op.

    ``coalesce``: a firing/update message for the same group and target still waiting to go out (group_wait,
    group_interval) is rewritten to say the new thing instead (it keeps its kind and the earlier due time),
    so quick escalations reach the receiver as one message at the latest level. Returns whether a row was
    added or rewritten.
    """
    due = due_at or now
    body = json.loads(json.dumps(payload, default=str))
    if coalesce:
        # Only the latest message for this target may be rewritten (never one from before a resolved).
        latest = conn.execute(
            select(
                notifications.c.id,
                notifications.c.next_attempt_at,
                notifications.c.kind,
                notifications.c.status,
                notifications.c.attempts,
            )
            .where(
                and_(
                    notifications.c.group_key == group_key,
                    notifications.c.receiver == receiver,
                    notifications.c.channel == channel,
                    _same_target(channel, target),
                    notifications.c.kind.in_(NOTIFY_KINDS),
                    notifications.c.status.notin_(["failed", "cancelled"]),
                )
            )
            .order_by(notifications.c.id.desc())
            .limit(1)
        ).first()
        waiting = None
        if (
            latest is not None
            and latest.kind in ("firing", "update")
            and latest.status == "pending"
            and latest.attempts == 0
        ):
            waiting = conn.execute(
                select(notifications.c.id, notifications.c.next_attempt_at, notifications.c.kind)
                .where(notifications.c.id == latest.id)
                .with_for_update(skip_locked=True)
            ).first()
        if waiting is not None:
            if (
                conn.execute(
                    select(notifications.c.id).where(notifications.c.idempotency_key == idempotency_key)
                ).first()
                is not None
            ):
                return False
            res = conn.execute(
                update(notifications)
                .where(
                    and_(
                        notifications.c.id == waiting.id,
                        notifications.c.attempts == 0,
                        notifications.c.status == "pending",
                    )
                )
                .values(
                    idempotency_key=idempotency_key,
                    payload={**body, "kind": waiting.kind},
                    target=target,
                    firing_keys=sorted(firing),
                    resolved_keys=sorted(resolved),
                    next_attempt_at=min(waiting.next_attempt_at, due),
                    due_at=min(waiting.next_attempt_at, due),
                )
            )
            if res.rowcount:
                conn.execute(text(f"NOTIFY {OUTBOX_CHANNEL}"))
                return True
    res = conn.execute(
        pg_insert(notifications)
        .values(
            alert_id=alert_id,
            group_key=group_key,
            kind=kind,
            channel=channel,
            receiver=receiver,
            target=target,
            idempotency_key=idempotency_key,
            payload=body,
            firing_keys=sorted(firing),
            resolved_keys=sorted(resolved),
            status="pending",
            attempts=0,
            next_attempt_at=due,
            due_at=due,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
    )
    if res.rowcount:
        # Delivered at commit (and folded into one per transaction): dispatchers LISTENing wake at once.
        conn.execute(text(f"NOTIFY {OUTBOX_CHANNEL}"))
    return bool(res.rowcount)


def record_notified(
    conn: Connection, *, group_key: str, receiver: str, firing: list[str], resolved: list[str], now: datetime
) -> None:
    stmt = pg_insert(notification_log).values(
        group_key=group_key, receiver=receiver, firing_keys=firing, resolved_keys=resolved, sent_at=now
    )
    conn.execute(
        stmt.on_conflict_do_update(
            constraint="uq_notification_log_group_receiver",
            set_={
                "firing_keys": stmt.excluded.firing_keys,
                "resolved_keys": stmt.excluded.resolved_keys,
                "sent_at": stmt.excluded.sent_at,
            },
        )
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


def count_children(conn: Connection, parent_fingerprint: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(alerts.c.id, alerts.c.asset_id, alerts.c.level, alerts.c.rule).where(
            and_(alerts.c.parent_fingerprint == parent_fingerprint, alerts.c.state.in_(["firing", "acknowledged"]))
        )
    )
    return [{"id": r.id, "asset_id": r.asset_id, "level": Level(r.level).label, "rule": r.rule} for r in rows]


def now_db(conn: Connection) -> datetime:
    return conn.execute(select(func.now())).scalar_one()
