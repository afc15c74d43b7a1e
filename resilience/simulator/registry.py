"""Insert a simulated city's registry (utilities, districts, assets, sensors) into the core store."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from resilience.simulator.city import City
from resilience.store.schema import assets, districts, sensors, utilities

CHUNK = 1000
TABLES: tuple[sa.Table, ...] = (utilities, districts, assets, sensors)  # foreign-key order


def seed_registry(conn: sa.Connection, city: City) -> dict[str, int]:
    """INSERT ... ON CONFLICT DO NOTHING, so re-seeding is harmless; the caller owns the transaction.

    Returns the number of rows offered per table (not the number actually inserted).
    """
    rows = city.registry_rows()
    counts: dict[str, int] = {}
    for table in TABLES:
        table_rows: list[dict[str, Any]] = rows[table.name]
        for lo in range(0, len(table_rows), CHUNK):
            conn.execute(insert(table).on_conflict_do_nothing(index_elements=["id"]), table_rows[lo: lo + CHUNK])
        counts[table.name] = len(table_rows)
    return counts
