"""Reading the whole registry (districts, assets, sensors) for ``resilience.registry_cache``."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, Engine, select

from resilience.registry_cache import RegistryCache, RegistrySnapshot
from resilience.store.schema import assets, districts, sensors


def read_registry(conn: Connection) -> RegistrySnapshot:
    """Every district, asset and sensor (inactive ones too: ingest must name why it refuses their readings)."""
    rows = {
        t.name: [dict(r._mapping) for r in conn.execute(select(t).order_by(t.c.id))]
        for t in (districts, assets, sensors)
    }
    return RegistrySnapshot.of(districts=rows["districts"], assets=rows["assets"], sensors=rows["sensors"])


def registry_loader(engine: Engine) -> Callable[[], RegistrySnapshot]:
    def load() -> RegistrySnapshot:
        with engine.connect() as conn:
            return read_registry(conn)

    return load


def registry_cache(engine: Engine, *, max_age_s: float = 30.0) -> RegistryCache:
    """The process's registry cache, read through ``engine``."""
    return RegistryCache(registry_loader(engine), max_age_s=max_age_s)
