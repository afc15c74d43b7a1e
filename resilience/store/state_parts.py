"""The detection worker's snapshot in parts: a JSON header row in ``detector_snapshots`` and binary parts.

What the parts hold is :mod:`resilience.detection.state_parts`' business; here they are opaque bytes. A
save writes the header and the given parts in the caller's transaction, so readers see one snapshot or
the one before it, never a mix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, delete, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from resilience.store.schema import detector_state_parts as parts_table
from resilience.store.snapshots import load_state, save_state


def save_parts(
    conn: Connection,
    name: str,
    header: dict[str, Any],
    parts: Mapping[int, tuple[int, bytes]],
    *,
    replace_all: bool,
    timeout_s: float | None = None,
) -> None:
    """Header and ``parts`` (part -> (sensors, bytes)); with ``replace_all`` every other part of ``name`` goes.

    ``timeout_s`` bounds each statement (a shutdown must end within the supervisor's grace period).
    """
    if timeout_s is not None:
        conn.execute(text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": str(int(timeout_s * 1000))})
    save_state(conn, name, header)  # first: it locks the header row, so concurrent saves queue here
    if replace_all:
        conn.execute(delete(parts_table).where(parts_table.c.name == name))
    if not parts:
        return
    rows = [{"name": name, "part": p, "sensors": n, "data": data} for p, (n, data) in parts.items()]
    stmt = pg_insert(parts_table)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["name", "part"],
            set_={"sensors": stmt.excluded.sensors, "data": stmt.excluded.data, "saved_at": text("now()")},
        ),
        rows,
    )


def load_parts(conn: Connection, name: str) -> tuple[dict[str, Any] | None, list[tuple[int, bytes]]]:
    """The header and every part of ``name``, read consistently (the header row is locked while reading)."""
    header = load_state(conn, name, lock=True)
    if header is None:
        return None, []
    q = select(parts_table.c.part, parts_table.c.data).where(parts_table.c.name == name).order_by(parts_table.c.part)
    return header, [(int(p), bytes(d)) for p, d in conn.execute(q)]


def load_part(conn: Connection, name: str, part: int) -> bytes | None:
    """One part's bytes (tools and tests look into a snapshot without loading all of it)."""
    q = select(parts_table.c.data).where(parts_table.c.name == name, parts_table.c.part == part)
    data = conn.execute(q).scalar()
    return bytes(data) if data is not None else None
