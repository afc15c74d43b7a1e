"""Named JSON state documents of long-running components (detector state, the platform watch)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from resilience.store.schema import detector_snapshots


def load_state(conn: Connection, name: str, *, lock: bool = False) -> dict[str, Any] | None:
    q = select(detector_snapshots.c.state).where(detector_snapshots.c.name == name)
    if lock:
        q = q.with_for_update()
    state = conn.execute(q).scalar()
    return dict(state) if state else None


def save_state(conn: Connection, name: str, state: dict[str, Any]) -> None:
    conn.execute(
        pg_insert(detector_snapshots)
        .values(name=name, state=state)
        .on_conflict_do_update(index_elements=["name"], set_={"state": state, "saved_at": text("now()")})
    )
