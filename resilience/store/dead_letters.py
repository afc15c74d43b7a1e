"""Dead letters: what ingest could not accept, kept with a reason (rows built by ``ingest.deadletter``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, text

from resilience.store.schema import dead_letters


def insert_dead_letters(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """In the caller's transaction: the batch's dead letters commit with its readings or not at all."""
    if rows:
        conn.execute(insert(dead_letters), list(rows))


def list_dead_letters(
    conn: Connection, *, utility_id: str | None = None, since: datetime | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Newest first, optionally one utility's and from ``since`` on."""
    q = select(dead_letters)
    if utility_id is not None:
        q = q.where(dead_letters.c.utility_id == utility_id)
    if since is not None:
        q = q.where(dead_letters.c.received_at >= since)
    return [dict(r) for r in conn.execute(q.order_by(dead_letters.c.id.desc()).limit(limit)).mappings()]


def insert_dead_letter(conn: Connection, **values: Any) -> None:
    """One dead letter (an HTTP payload refused before it was read, for one)."""
    conn.execute(insert(dead_letters).values(**values))


def prune_dead_letters(conn: Connection, *, older_than_days: int) -> int:
    """Delete dead letters received more than ``older_than_days`` ago; how many went."""
    return int(
        conn.execute(
            text("DELETE FROM dead_letters WHERE received_at < now() - make_interval(days => :d)"),
            {"d": older_than_days},
        ).rowcount
        or 0
    )
