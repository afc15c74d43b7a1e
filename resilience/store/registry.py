"""Registry SQL (utilities, districts, assets, sensors). Keyword-only functions; the caller owns the transaction.

``table`` is a registry table's name (``"sensors"``), so callers need not hold the table definitions.
"""

from __future__ import annotations

from typing import Any

from collections.abc import Mapping, Sequence

from sqlalchemy import Connection, Table, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError

from resilience.store.schema import assets, districts, sensors, utilities

# In foreign-key order: a registry is loaded table by table in this order.
TABLES: dict[str, Table] = {"utilities": utilities, "districts": districts, "assets": assets, "sensors": sensors}
SEED_CHUNK = 1000


TableRef = str | Table


def _t(table: TableRef) -> Table:
    return TABLES[table] if isinstance(table, str) else table


class NotFound(LookupError):
    pass


class Conflict(ValueError):
    pass


def insert_many(conn: Connection, *, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """Plain inserts (a duplicate id is an error): for benchmarks that start from an empty database."""
    conn.execute(insert(TABLES[table]), list(rows))


def seed_missing(conn: Connection, rows: Mapping[str, Sequence[dict[str, Any]]]) -> dict[str, int]:
    """Insert a whole registry (table name -> rows), table by table in foreign-key order, each row unless its id
    is already stored (``ON CONFLICT DO NOTHING``: re-seeding is harmless). Rows offered per table."""
    counts: dict[str, int] = {}
    for name, table in TABLES.items():
        table_rows = list(rows[name])
        for lo in range(0, len(table_rows), SEED_CHUNK):
            conn.execute(
                pg_insert(table).on_conflict_do_nothing(index_elements=["id"]), table_rows[lo : lo + SEED_CHUNK]
            )
        counts[name] = len(table_rows)
    return counts


def utility_ids(conn: Connection) -> set[str]:
    return {str(u) for u in conn.execute(select(utilities.c.id)).scalars()}


def _public(table: TableRef, row: Any) -> dict[str, Any]:
    data = dict(row._mapping)
    data.pop("created_at", None)
    return data


def create(conn: Connection, *, table: TableRef, values: dict[str, Any]) -> dict[str, Any]:
    table = _t(table)
    try:
        with conn.begin_nested():
            row = conn.execute(insert(table).values(**values).returning(*table.c)).one()
    except IntegrityError as exc:
        raise Conflict(
            f"{table.name}: {values.get('id')!r} already exists or references a missing row: "
            f"{exc.orig.diag.message_primary if exc.orig and hasattr(exc.orig, 'diag') else exc}"
        ) from exc
    return _public(table, row)


def get(conn: Connection, *, table: TableRef, id: str) -> dict[str, Any]:
    table = _t(table)
    row = conn.execute(select(table).where(table.c.id == id)).one_or_none()
    if row is None:
        raise NotFound(f"{table.name[:-1]} {id!r} not found")
    return _public(table, row)


def list_(
    conn: Connection,
    *,
    table: TableRef,
    filters: dict[str, Any],
    offset: int = 0,
    limit: int = 100,
) -> tuple[list[dict[str, Any]], int]:
    table = _t(table)
    conds = [table.c[k] == v for k, v in filters.items() if v is not None]
    total = conn.execute(select(func.count()).select_from(table).where(*conds)).scalar_one()
    rows = conn.execute(select(table).where(*conds).order_by(table.c.id).offset(offset).limit(limit))
    return [_public(table, r) for r in rows], total


def patch(conn: Connection, *, table: TableRef, id: str, values: dict[str, Any]) -> dict[str, Any]:
    table = _t(table)
    if not values:
        return get(conn, table=table, id=id)
    try:
        with conn.begin_nested():
            row = conn.execute(update(table).where(table.c.id == id).values(**values).returning(*table.c)).one_or_none()
    except IntegrityError as exc:
        raise Conflict(f"{table.name}: update of {id!r} references a missing row") from exc
    if row is None:
        raise NotFound(f"{table.name[:-1]} {id!r} not found")
    return _public(table, row)


def remove(conn: Connection, *, table: TableRef, id: str) -> None:
    table = _t(table)
    try:
        with conn.begin_nested():
            n = conn.execute(delete(table).where(table.c.id == id)).rowcount
    except IntegrityError as exc:
        raise Conflict(f"{table.name[:-1]} {id!r} is still referenced; remove its dependants first") from exc
    if not n:
        raise NotFound(f"{table.name[:-1]} {id!r} not found")
