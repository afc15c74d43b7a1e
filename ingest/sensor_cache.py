"""The ingest side's cached view of the sensor registry (who owns which sensor, in which unit)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from resilience.store.db import Engine
from resilience.store.registry import sensor_catalogue


@dataclass(frozen=True, slots=True)
class SensorInfo:
    sensor_id: str
    utility_id: str
    kind: str
    unit: str
    active: bool


class SensorRegistry:
    """Cached view of the sensors table; refreshed periodically and on a miss (at most once a second)."""

    def __init__(self, engine: Engine, *, max_age_s: float = 30.0) -> None:
        self.engine = engine
        self.max_age_s = max_age_s
        self._by_id: dict[str, SensorInfo] = {}
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def refresh(self) -> None:
        with self.engine.connect() as conn:
            rows = sensor_catalogue(conn)
        with self._lock:
            self._by_id = {r[0]: SensorInfo(*r) for r in rows}
            self._loaded_at = time.monotonic()

    def get(self, sensor_id: str) -> SensorInfo | None:
        age = time.monotonic() - self._loaded_at
        info = self._by_id.get(sensor_id)
        if age > self.max_age_s or (info is None and age > 1.0):
            self.refresh()
            info = self._by_id.get(sensor_id)
        return info

    def snapshot(self) -> dict[str, SensorInfo]:
        """The current mapping (refreshed if stale), for a hot loop that looks up many ids at once."""
        if time.monotonic() - self._loaded_at > self.max_age_s:
            self.refresh()
        return self._by_id
