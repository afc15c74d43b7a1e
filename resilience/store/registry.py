"""Registry SQL (utilities, districts, assets, sensors). Keyword-only functions; the caller owns the transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from resilience.store.schema import assets, districts, sensors, utilities

TABLES: dict[str, Table] = {"utilities": utilities, "districts": districts, "assets": assets, "sensors": sensors}


class NotFound(LookupError):
    pass


class Conflict(ValueError):
    pass


def sensor_catalogue(conn: Connection) -> list[tuple[str, str, str, str, bool]]:
    """Every sensor as ``(id, utility_id, kind, unit, active)``: what ingest needs to own and convert a reading."""
    rows = conn.execute(select(sensors.c.id, sensors.c.utility_id, sensors.c.kind, sensors.c.unit,
                               sensors.c.active)).all()
    return [(r.id, r.utility_id, r.kind, r.unit, r.active) for r in rows]


def _public(table: Table, row: Any) -> dict[str, Any]:
    data = dict(row._mapping)
    data.pop("created_at", None)
    return data


def create(conn: Connection, *, table: Table, values: dict[str, Any]) -> dict[str, Any]:
    try:
        with conn.begin_nested():
            row = conn.execute(insert(table).values(**values).returning(*table.c)).one()
    except IntegrityError as exc:
        raise Conflict(f"{table.name}: {values.get('id')!r} already exists or references a missing row: "
                       f"{exc.orig.diag.message_primary if exc.orig and hasattr(exc.orig, 'diag') else exc}") from exc
    return _public(table, row)


def get(conn: Connection, *, table: Table, id: str) -> dict[str, Any]:
    row = conn.execute(select(table).where(table.c.id == id)).one_or_none()
    if row is None:
        raise NotFound(f"{table.name[:-1]} {id!r} not found")
    return _public(table, row)


def list_(conn: Connection, *, table: Table, filters: dict[str, Any], offset: int = 0, limit: int = 100,
          ) -> tuple[list[dict[str, Any]], int]:
    conds = [table.c[k] == v for k, v in filters.items() if v is not None]
    total = conn.execute(select(func.count()).select_from(table).where(*conds)).scalar_one()
    rows = conn.execute(select(table).where(*conds).order_by(table.c.id).offset(offset).limit(limit))
    return [_public(table, r) for r in rows], total


def patch(conn: Connection, *, table: Table, id: str, values: dict[str, Any]) -> dict[str, Any]:
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


def remove(conn: Connection, *, table: Table, id: str) -> None:
    try:
        with conn.begin_nested():
            n = conn.execute(delete(table).where(table.c.id == id)).rowcount
    except IntegrityError as exc:
        raise Conflict(f"{table.name[:-1]} {id!r} is still referenced; remove its dependants first") from exc
    if not n:
        raise NotFound(f"{table.name[:-1]} {id!r} not found")
