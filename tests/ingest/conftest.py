"""Helpers shared by the ingest tests: an in-memory registry with the ``snapshot()``/``get()`` interface."""

from __future__ import annotations

from ingest.sensor_cache import SensorInfo

SENSORS = [
    SensorInfo("P-1", "waterco", "water_pressure", "MPa", True),
    SensorInfo("T-1", "waterco", "temperature", "degC", True),
    SensorInfo("F-1", "waterco", "water_flow", "m**3/h", True),
    SensorInfo("OLD-1", "waterco", "water_pressure", "MPa", False),
    SensorInfo("CH4-1", "gasco", "methane", "percent_lel", True),
    SensorInfo("X-1", "gasco", "odd", "x", True),
]


class FakeRegistry:
    """What ``validate`` needs of ``ingest.sensor_cache.SensorRegistry``, without a database."""

    def __init__(self, infos: list[SensorInfo] = SENSORS) -> None:
        self._by_id = {i.sensor_id: i for i in infos}

    def snapshot(self) -> dict[str, SensorInfo]:
        return self._by_id

    def get(self, sensor_id: str) -> SensorInfo | None:
        return self._by_id.get(sensor_id)
