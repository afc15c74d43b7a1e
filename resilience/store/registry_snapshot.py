"""Reading the registry (districts, assets, sensors) and its version for ``resilience.core.registry_cache``."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, Engine, select

from resilience.core.registry_cache import RegistryCache, RegistrySnapshot
from resilience.store.schema import assets, districts, registry_version, sensors


def read_version(conn: Connection) -> str:
    """The registry's version: a number every write to districts, assets or sensors bumps (migration 0009)."""
    return f"v{conn.execute(select(registry_version.c.version)).scalar_one()}"


def read_registry(conn: Connection) -> RegistrySnapshot:
    """Every district, asset and sensor (inactive ones too: ingest must name why it refuses their readings),
    with the version read first: a change committed in between makes the next check read again, never less."""
    version = read_version(conn)
    rows = {
        t.name: [dict(r._mapping) for r in conn.execute(select(t).order_by(t.c.id))]
        for t in (districts, assets, sensors)
    }
    return RegistrySnapshot.of(
        districts=rows["districts"], assets=rows["assets"], sensors=rows["sensors"], version=version
    )


def registry_loader(engine: Engine) -> Callable[[], RegistrySnapshot]:
    def load() -> RegistrySnapshot:
        with engine.connect() as conn:
            return read_registry(conn)

    return load


def version_probe(engine: Engine) -> Callable[[], str]:
    def probe() -> str:
        with engine.connect() as conn:
            return read_version(conn)

    return probe


def registry_cache(engine: Engine, *, max_age_s: float = 30.0) -> RegistryCache:
    """The process's registry cache, read through ``engine``; a check reads the version, a change the rows."""
    return RegistryCache(registry_loader(engine), probe=version_probe(engine), max_age_s=max_age_s)
