"""Consumer cursors over append-only logs that many transactions write at once, without skipping a row.

A cursor over an identity column alone (``id > last``) loses rows: a transaction that took id 7 may
commit after one that took id 8 was read. So a log's order is not its id but ``seq``, which only
committed rows get, from ``sequence_log()`` (migration 0004): one sequencer per log at a time, under an
advisory lock, each numbering what is committed and not yet numbered. Numbers are taken and committed in
the same order, so a consumer that has seen ``seq`` n has seen every committed row below it.

Why not PgQ's "below the oldest running transaction" rule, used before: any open transaction in the
database, even one that never writes the log (a worker frozen mid-commit), then holds every consumer
back. Here a slow writer delays only its own rows, and the sequencer runs as one autocommitted
statement, so no client can hold its lock.

Cursors live in ``event_cursors`` (one row per consumer: ``last_seq`` and ``processed``, how many items
it has handed on) and advance in the consumer's own transaction, with its output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, text

SEQUENCE_BATCH = 10_000


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """Where a consumer stands: the ``seq`` of the last row it handled."""

    seq: int = 0


START = Position()


def sequence(engine: Engine, table: str) -> int:
    """Number the committed, unnumbered rows of ``table`` (all of them, in rounds); how many were numbered.

    Call it before reading, outside the reading transaction: it commits on its own.
    """
    total = 0
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        while True:
            n = int(
                conn.execute(
                    text("SELECT sequence_log(CAST(:t AS regclass), :b)"), {"t": table, "b": SEQUENCE_BATCH}
                ).scalar_one()
            )
            total += n
            if n < SEQUENCE_BATCH:
                return total


def ensure_cursor(conn: Connection, consumer: str, *, at_end_of: str | None = None) -> None:
    """Create the consumer's cursor if it has none: at the start of the log, or at the end of ``at_end_of``."""
    if at_end_of is None:
        conn.execute(
            text("INSERT INTO event_cursors (consumer, last_seq) VALUES (:c, 0) ON CONFLICT (consumer) DO NOTHING"),
            {"c": consumer},
        )
        return
    conn.execute(
        text(
            f"INSERT INTO event_cursors (consumer, last_seq) "  # noqa: S608 - table is ours
            f"SELECT :c, coalesce(max(seq), 0) FROM {at_end_of} "
            f"ON CONFLICT (consumer) DO NOTHING"
        ),
        {"c": consumer},
    )


def read_cursor(conn: Connection, consumer: str, *, lock: bool = False) -> tuple[Position, int]:
    """The consumer's position and its processed count (``lock``: hold the row until commit)."""
    row = conn.execute(
        text("SELECT last_seq, processed FROM event_cursors WHERE consumer = :c" + (" FOR UPDATE" if lock else "")),
        {"c": consumer},
    ).first()
    if row is None:
        return START, 0
    return Position(int(row.last_seq)), int(row.processed)


def advance_cursor(conn: Connection, consumer: str, to: Position, *, processed: int = 0) -> None:
    conn.execute(
        text(
            "UPDATE event_cursors SET last_seq = :s, processed = processed + :n, updated_at = now() WHERE consumer = :c"
        ),
        {"s": to.seq, "n": processed, "c": consumer},
    )


def read_after(
    conn: Connection,
    table: str,
    columns: str,
    after: Position,
    limit: int,
    *,
    where: str = "",
    params: dict[str, Any] | None = None,
    until: Position | None = None,
) -> list[Any]:
    """Numbered rows of ``table`` after ``after`` (and at most ``until``) in log order.

    Each row has ``seq`` first, then ``columns``. Rows not yet numbered wait for the next ``sequence``.
    """
    clauses = [f"{table}.seq > :after"]
    args: dict[str, Any] = {"after": after.seq, "n": limit, **(params or {})}
    if where:
        clauses.append(where)
    if until is not None:
        clauses.append(f"{table}.seq <= :until")
        args["until"] = until.seq
    sql = (
        f"SELECT {table}.seq, {columns} FROM {table} "  # noqa: S608 - names are ours
        f"WHERE {' AND '.join(clauses)} ORDER BY {table}.seq LIMIT :n"
    )
    return list(conn.execute(text(sql), args))


def backlogs(conn: Connection) -> dict[str, int]:
    """Every consumer's rows not yet consumed: its shard of the hand-off for a detector's cursor, the event
    log for every other one. A drained platform shows only zeros (``resilience evaluate --wait-drained``)."""
    rows = conn.execute(
        text(
            "SELECT c.consumer, CASE WHEN c.consumer LIKE 'detector/shard-%' THEN "
            "(SELECT count(*) FROM reading_batches b WHERE b.shard = CAST(split_part(c.consumer, '-', 2) AS int) "
            "AND (b.seq IS NULL OR b.seq > c.last_seq)) "
            "ELSE (SELECT count(*) FROM events e WHERE e.seq IS NULL OR e.seq > c.last_seq) END AS pending "
            "FROM event_cursors c ORDER BY c.consumer"
        )
    )
    return {r.consumer: int(r.pending) for r in rows}
