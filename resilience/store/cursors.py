"""Consumer cursors over append-only logs that many transactions write at once, without skipping a row.

A cursor over an identity column alone (``id > last``) loses rows: a transaction that took id 7 may
commit after one that took id 8 was read. Every log row here carries the id of the transaction that
wrote it (``tx xid8 DEFAULT pg_current_xact_id()``); a consumer reads in ``(tx, id)`` order and only
rows whose ``tx`` is below the oldest transaction still running (``pg_snapshot_xmin``). Such a
transaction has ended, so no row at or before the cursor can still appear: the visibility rule of
PgQ. A long-running writer delays consumers; it cannot make them skip.

Cursors live in ``event_cursors`` (one row per consumer: ``last_tx``, ``last_id`` and ``processed``, how
many items it has handed on) and advance in the consumer's own transaction, with its output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

VISIBLE = "tx < pg_snapshot_xmin(pg_current_snapshot())"


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """Where a consumer stands: the last row it handled, as (writing transaction, id)."""

    tx: int = 0
    id: int = 0


START = Position()


def ensure_cursor(conn: Connection, consumer: str, *, at_end_of: str | None = None) -> None:
    """Create the consumer's cursor if it has none: at the start of the log, or at the end of ``at_end_of``."""
    if at_end_of is None:
        conn.execute(text("INSERT INTO event_cursors (consumer, last_id) VALUES (:c, 0) "
                          "ON CONFLICT (consumer) DO NOTHING"), {"c": consumer})
        return
    conn.execute(text(f"INSERT INTO event_cursors (consumer, last_tx, last_id) "  # noqa: S608 - table is ours
                      f"SELECT :c, coalesce(max(tx), '0'), coalesce(max(id), 0) FROM {at_end_of} "
                      f"ON CONFLICT (consumer) DO NOTHING"), {"c": consumer})


def read_cursor(conn: Connection, consumer: str, *, lock: bool = False) -> tuple[Position, int]:
    """The consumer's position and its processed count (``lock``: hold the row until commit)."""
    row = conn.execute(text("SELECT last_tx::text AS tx, last_id, processed FROM event_cursors WHERE consumer = :c"
                            + (" FOR UPDATE" if lock else "")), {"c": consumer}).first()
    if row is None:
        return START, 0
    return Position(int(row.tx), int(row.last_id)), int(row.processed)


def advance_cursor(conn: Connection, consumer: str, to: Position, *, processed: int = 0) -> None:
    conn.execute(text("UPDATE event_cursors SET last_tx = CAST(:tx AS xid8), last_id = :id, "
                      "processed = processed + :n, updated_at = now() WHERE consumer = :c"),
                 {"tx": str(to.tx), "id": to.id, "n": processed, "c": consumer})


def read_after(conn: Connection, table: str, columns: str, after: Position, limit: int, *,
               where: str = "", params: dict[str, Any] | None = None, until: Position | None = None) -> list[Any]:
    """Rows of ``table`` after ``after`` (and at most ``until``) in log order, only once no earlier row can appear.

    Each row has ``tx`` (as an int) and ``id`` first, then ``columns``.
    """
    clauses = [f"(tx, id) > (CAST(:after_tx AS xid8), :after_id)", VISIBLE]
    args: dict[str, Any] = {"after_tx": str(after.tx), "after_id": after.id, "n": limit, **(params or {})}
    if where:
        clauses.append(where)
    if until is not None:
        clauses.append("(tx, id) <= (CAST(:until_tx AS xid8), :until_id)")
        args.update(until_tx=str(until.tx), until_id=until.id)
    sql = (f"SELECT {table}.tx::text::bigint AS tx, {table}.id, {columns} FROM {table} "  # noqa: S608 - names are ours
           f"WHERE {' AND '.join(clauses)} ORDER BY {table}.tx, {table}.id LIMIT :n")
    return list(conn.execute(text(sql), args))
