"""The ingest side's cached view of the sensor registry (who owns which sensor, in which unit)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from resilience.core.registry_cache import RegistryCache
from resilience.store.db import Engine
from resilience.store.registry_snapshot import registry_cache


@dataclass(frozen=True, slots=True)
class SensorInfo:
    sensor_id: str
    utility_id: str
    kind: str
    unit: str
    active: bool
    asset_id: str = ""  # the detector shard follows the asset (resilience.store.handoff.shard_of)


class SensorRegistry:
    """Ingest's view of the process's ``RegistryCache``: sensor rows as ``SensorInfo``.

    Lookups follow the cache's one refresh policy (read again when stale, and on a miss at most once a
    second); the ``SensorInfo`` mapping is rebuilt only when the registry changed.
    """

    def __init__(self, engine: Engine, *, max_age_s: float = 30.0, cache: RegistryCache | None = None) -> None:
        self.cache = cache if cache is not None else registry_cache(engine, max_age_s=max_age_s)
        self._digest = ""
        self._by_id: dict[str, SensorInfo] = {}
        self._lock = threading.Lock()

    def refresh(self) -> None:
        self.cache.refresh()
        self.snapshot()

    def get(self, sensor_id: str) -> SensorInfo | None:
        by_id = self.snapshot()
        info = by_id.get(sensor_id)
        if info is None and self.cache.sensor(sensor_id) is not None:  # registered since the last read
            info = self.snapshot().get(sensor_id)
        return info

    def snapshot(self) -> dict[str, SensorInfo]:
        """The current mapping (refreshed if stale), for a hot loop that looks up many ids at once."""
        snap = self.cache.current()
        if snap.digest != self._digest:
            with self._lock:
                self._by_id = {
                    r["id"]: SensorInfo(
                        r["id"], r["utility_id"], r["kind"], r["unit"], bool(r["active"]), str(r["asset_id"])
                    )
                    for r in snap.sensors
                }
                self._digest = snap.digest
        return self._by_id
