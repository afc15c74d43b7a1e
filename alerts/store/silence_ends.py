"""Ending silences early (created by ``alerts.store.insert_silence``, listed by ``alerts.store.reads``).

Not named ``silences``: a submodule of that name would replace the ``silences`` table in ``alerts.store``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, update

from alerts.store.schema import silences


def expire_silence(conn: Connection, *, silence_id: int, now: datetime, by: str) -> bool:
    """End an active silence at ``now``; False when there is no such silence still running."""
    res = conn.execute(
        update(silences).where(silences.c.id == silence_id, silences.c.ends_at > now).values(ends_at=now, expired_by=by)
    )
    return bool(res.rowcount)
