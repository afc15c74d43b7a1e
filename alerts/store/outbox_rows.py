"""The notification log and the outbox writer: what each receiver was told, and the rows still to send.

``enqueue`` writes (or, while it waits for its group, rewrites) one outbox row per target with an
idempotency key, and NOTIFYs the dispatcher at commit; ``last_notified`` is what dedup compares against;
``cancel_unsent`` withdraws rows a muted or resolved alert no longer needs.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from alerts.dedup import LogEntry
from alerts.store.schema import notification_log, notifications

OUTBOX_CHANNEL = "lifeline_outbox"  # NOTIFY on every outbox insert; the dispatcher LISTENs
NOTIFY_KINDS = ("firing", "update", "resolved")  # what receivers are told through routes (dedup, notification log)


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
    fields: dict[str, Any] = {
        "idempotency_key": idempotency_key,
        "target": target,
        "firing_keys": sorted(firing),
        "resolved_keys": sorted(resolved),
    }
    if coalesce:
        waiting = _waiting_message(conn, group_key=group_key, receiver=receiver, channel=channel, target=target)
        if waiting is not None:
            if _key_taken(conn, idempotency_key):
                return False
            if _rewrite(conn, waiting, body=body, due=due, fields=fields):
                return True
    res = conn.execute(
        pg_insert(notifications)
        .values(
            alert_id=alert_id,
            group_key=group_key,
            kind=kind,
            channel=channel,
            receiver=receiver,
            payload=body,
            status="pending",
            attempts=0,
            next_attempt_at=due,
            due_at=due,
            created_at=now,
            **fields,
        )
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
    )
    if res.rowcount:
        # Delivered at commit (and folded into one per transaction): dispatchers LISTENing wake at once.
        conn.execute(text(f"NOTIFY {OUTBOX_CHANNEL}"))
    return bool(res.rowcount)


def _waiting_message(
    conn: Connection, *, group_key: str, receiver: str, channel: str, target: str
) -> Row[Any, Any, Any] | None:
    """The latest firing/update message for this group and target if it has not been tried yet, locked.

    Only the latest message for a target may be rewritten (never one from before a resolved)."""
    latest = conn.execute(
        select(notifications.c.id, notifications.c.kind, notifications.c.status, notifications.c.attempts)
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
    if latest is None or latest.kind not in ("firing", "update") or latest.status != "pending" or latest.attempts:
        return None
    locked = conn.execute(
        select(notifications.c.id, notifications.c.next_attempt_at, notifications.c.kind)
        .where(notifications.c.id == latest.id)
        .with_for_update(skip_locked=True)
    ).first()
    return locked


def _key_taken(conn: Connection, idempotency_key: str) -> bool:
    found = conn.execute(select(notifications.c.id).where(notifications.c.idempotency_key == idempotency_key))
    return found.first() is not None


def _rewrite(
    conn: Connection, waiting: Row[Any, Any, Any], *, body: dict[str, Any], due: datetime, fields: dict[str, Any]
) -> bool:
    """Rewrite the waiting message to say the new thing; it keeps its kind and the earlier due time."""
    due_now = min(waiting.next_attempt_at, due)
    res = conn.execute(
        update(notifications)
        .where(
            and_(
                notifications.c.id == waiting.id,
                notifications.c.attempts == 0,
                notifications.c.status == "pending",
            )
        )
        .values(payload={**body, "kind": waiting.kind}, next_attempt_at=due_now, due_at=due_now, **fields)
    )
    if res.rowcount:
        conn.execute(text(f"NOTIFY {OUTBOX_CHANNEL}"))
        return True
    return False


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
