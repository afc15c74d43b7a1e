"""Insert a simulated city's registry (utilities, districts, assets, sensors) into the core store."""

from __future__ import annotations

from resilience.simulator.city import City
from resilience.store.db import Connection
from resilience.store.registry import seed_missing


def seed_registry(conn: Connection, city: City) -> dict[str, int]:
    """Rows whose id is already stored are left alone, so re-seeding is harmless; the caller owns the
    transaction. Returns the number of rows offered per table (not the number actually inserted)."""
    return seed_missing(conn, city.registry_rows())
