"""Basemap layers (migration 0020): GeoJSON an operator uploads, drawn under the console map."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, func, select
from sqlalchemy.dialects.postgresql import insert

from resilience.store.schema import basemap_layers

META = [c for c in basemap_layers.c if c.name != "geojson"]


def put_layer(
    conn: Connection, *, id: str, name_zh: str, name_en: str, kind: str, geojson: dict[str, Any], features: int
) -> bool:
    """Store the layer under ``id``, replacing one of that id; True when it was new."""
    values = {"id": id, "name_zh": name_zh, "name_en": name_en, "kind": kind, "geojson": geojson, "features": features}
    stmt = insert(basemap_layers).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["id"], set_={**{k: stmt.excluded[k] for k in values if k != "id"}, "updated_at": func.now()}
    )
    inserted = conn.execute(stmt.returning(basemap_layers.c.created_at == basemap_layers.c.updated_at)).scalar_one()
    return bool(inserted)


def list_layers(conn: Connection) -> list[dict[str, Any]]:
    """Every layer's description, without its features."""
    return [dict(r) for r in conn.execute(select(*META).order_by(basemap_layers.c.id)).mappings()]


def get_layer(conn: Connection, id: str) -> dict[str, Any] | None:
    row = conn.execute(select(basemap_layers).where(basemap_layers.c.id == id)).mappings().first()
    return dict(row) if row is not None else None


def remove_layer(conn: Connection, id: str) -> bool:
    return bool(conn.execute(delete(basemap_layers).where(basemap_layers.c.id == id)).rowcount)
