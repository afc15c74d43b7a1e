"""The outbox as the dispatcher works it: claim due rows under a lease, record each outcome if still leased.

Rows are written by ``alerts.store.enqueue`` in the transaction of the alert change that caused them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, select, update

from alerts.store.schema import notifications


def claim_due(conn: Connection, *, now: datetime, limit: int, lease_s: float) -> list[dict[str, Any]]:
    """Due pending rows, locked (``FOR UPDATE SKIP LOCKED``: another dispatcher's rows are passed over) and
    leased: ``attempts`` counted and ``next_attempt_at`` pushed ``lease_s`` ahead. The rows as they were read,
    ``attempts`` already counting this one; the caller commits so the lease outlives a crash."""
    rows = (
        conn.execute(
            select(notifications)
            .where(and_(notifications.c.status == "pending", notifications.c.next_attempt_at <= now))
            .order_by(notifications.c.next_attempt_at, notifications.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        .mappings()
        .fetchall()
    )
    out = []
    for m in rows:
        conn.execute(
            update(notifications)
            .where(notifications.c.id == m["id"])
            .values(attempts=m["attempts"] + 1, next_attempt_at=now + timedelta(seconds=lease_s))
        )
        out.append({**m, "attempts": m["attempts"] + 1})
    return out


def record_outcome(conn: Connection, *, notification_id: int, attempts: int, values: dict[str, Any]) -> bool:
    """Write ``values`` if the row is still ours (pending, at the attempt we claimed); whether it was."""
    res = conn.execute(
        update(notifications)
        .where(
            and_(
                notifications.c.id == notification_id,
                notifications.c.attempts == attempts,
                notifications.c.status == "pending",
            )
        )
        .values(**values)
    )
    return bool(res.rowcount)


def count_due(conn: Connection, now: datetime) -> int:
    return len(
        conn.execute(
            select(notifications.c.id).where(
                and_(notifications.c.status == "pending", notifications.c.next_attempt_at <= now)
            )
        ).all()
    )


def next_due_at(conn: Connection) -> datetime | None:
    """When the earliest pending row is due; None when nothing is pending."""
    nxt: datetime | None = conn.execute(
        select(func.min(notifications.c.next_attempt_at)).where(notifications.c.status == "pending")
    ).scalar()
    return nxt
