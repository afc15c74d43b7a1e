"""The ``anomalies`` table: one row per anomaly, kept up to date through its lifecycle (open, update, close)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from resilience.store.schema import anomalies


def upsert_anomaly(conn: Connection, row: dict[str, Any], *, on_update: dict[str, Any]) -> None:
    """Insert the anomaly ``row``, or (its id already stored) set ``on_update`` on the stored one."""
    conn.execute(pg_insert(anomalies).values(**row).on_conflict_do_update(index_elements=["id"], set_=on_update))


def list_anomalies(
    conn: Connection,
    *,
    equal: dict[str, Any],
    open: bool | None = None,
    min_level: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    offset: int = 0,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Newest first; ``equal``: column -> value (None: any); ``since``/``until`` bound the anomaly's span."""
    q = select(anomalies)
    for col, value in equal.items():
        if value is not None:
            q = q.where(anomalies.c[col] == value)
    if open is not None:
        q = q.where(anomalies.c.end.is_(None) if open else anomalies.c.end.is_not(None))
    if min_level is not None:
        q = q.where(anomalies.c.level >= min_level)
    if since is not None:
        q = q.where(anomalies.c.last_ts >= since)
    if until is not None:
        q = q.where(anomalies.c.start < until)
    rows = conn.execute(q.order_by(anomalies.c.start.desc()).offset(offset).limit(limit)).mappings()
    return [dict(r) for r in rows]


def get_anomaly(conn: Connection, anomaly_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(anomalies).where(anomalies.c.id == anomaly_id)).mappings().one_or_none()
    return None if row is None else dict(row)
