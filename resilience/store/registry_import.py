"""Bulk registry writes for ``resilience.api.registry_import``: COPY into a temporary table, then one upsert
per registry table. The caller owns the transaction and has validated every row already.

One statement per table instead of one per row is what makes 100,000 sensors take seconds: the statement
triggers of migration 0009 fire once per table, not once per row. An import is still one change to the
registry, so :func:`settle_version` leaves the version exactly one above where it stood (see there).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, text, update
from sqlalchemy.dialects.postgresql import JSONB

from resilience.store.registry import TABLES
from resilience.store.schema import registry_version

# Per table, in foreign-key order, the columns an import may carry (all but the server-side created_at);
# and which columns hold JSON (a file gives them as JSON text or values).
COLUMNS: dict[str, tuple[str, ...]] = {
    name: tuple(c.name for c in table.c if c.name != "created_at") for name, table in TABLES.items()
}
JSON_COLUMNS = frozenset(c.name for t in TABLES.values() for c in t.c if isinstance(c.type, JSONB))
# Tables whose writes move the registry version (migration 0009's triggers); utilities have none.
VERSIONED = frozenset({"districts", "assets", "sensors"})
LOOKUP_CHUNK = 10_000


@dataclass(frozen=True, slots=True)
class Upserted:
    """What one table's upsert did: rows inserted, rows whose values changed, rows already as sent."""

    created: int
    updated: int
    unchanged: int


def stored_ids(conn: Connection, *, table: str, ids: Collection[str]) -> set[str]:
    """Which of ``ids`` the registry table holds (asked in chunks, so a big file is a few round trips)."""
    t = TABLES[table]
    wanted = sorted(ids)
    found: set[str] = set()
    for lo in range(0, len(wanted), LOOKUP_CHUNK):
        found.update(conn.execute(select(t.c.id).where(t.c.id.in_(wanted[lo : lo + LOOKUP_CHUNK]))).scalars())
    return found


def lock_version(conn: Connection) -> int:
    """The registry version, locked until the transaction ends: no other registry write commits in between,
    so :func:`settle_version` may set the number this import ends on."""
    return int(conn.execute(select(registry_version.c.version).with_for_update()).scalar_one())


def current_version(conn: Connection) -> int:
    return int(conn.execute(select(registry_version.c.version)).scalar_one())


def settle_version(conn: Connection, *, before: int, changed: bool) -> int:
    """One bump for the whole import, whatever the triggers counted (one per table statement): the row has
    been locked since :func:`lock_version`, so nobody saw the intermediate numbers, and a reader's cache sees
    one new version when the import commits (none when nothing changed). Returns the number of bumps."""
    target = before + 1 if changed else before
    conn.execute(update(registry_version).where(registry_version.c.id == 1).values(version=target))
    return target - before


def upsert(
    conn: Connection,
    *,
    table: str,
    columns: Sequence[str],
    update_columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
) -> Upserted:
    """Insert rows with new ids; on a stored id, set the ``update_columns`` where they differ and leave the
    others as stored; a row already as sent is not even rewritten. ``columns`` starts with ``id``; each row
    holds their values in that order, JSON columns as JSON text."""
    if not rows:
        return Upserted(0, 0, 0)
    name = TABLES[table].name
    tmp = f"import_{name}"
    cols = ", ".join(f'"{c}"' for c in columns)
    conn.execute(text(f"CREATE TEMPORARY TABLE {tmp} ON COMMIT DROP AS SELECT {cols} FROM {name} WITH NO DATA"))
    _copy(conn, f"COPY {tmp} ({cols}) FROM STDIN", rows)
    conn.execute(text(f"ANALYZE {tmp}"))
    values = [c for c in update_columns if c != "id"] or ["id"]  # (``SET id = EXCLUDED.id`` changes nothing)
    target = ", ".join(f't."{c}"' for c in values)
    sent = ", ".join(f'EXCLUDED."{c}"' for c in values)
    assign = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in values)
    # Every CTE reads the same snapshot: ``pre`` sees the table as it was before ``up`` wrote to it.
    created, updated = conn.execute(
        text(f"""
            WITH pre AS (
                SELECT i.id, t.id IS NULL AS new FROM {tmp} i LEFT JOIN {name} t ON t.id = i.id
            ), up AS (
                INSERT INTO {name} AS t ({cols}) SELECT {cols} FROM {tmp}
                ON CONFLICT (id) DO UPDATE SET {assign} WHERE ROW({target}) IS DISTINCT FROM ROW({sent})
                RETURNING t.id
            )
            SELECT count(*) FILTER (WHERE pre.new), count(*) FILTER (WHERE NOT pre.new)
            FROM up JOIN pre ON pre.id = up.id""")
    ).one()
    conn.execute(text(f"DROP TABLE {tmp}"))
    return Upserted(int(created), int(updated), len(rows) - int(created) - int(updated))


def _copy(conn: Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """COPY through the connection's own psycopg connection, inside the caller's transaction."""
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur, cur.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)
