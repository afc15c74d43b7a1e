"""A tiny hand-placed city and event builders for the risk tests."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from resilience.core.domain import Level
from resilience.core.events import AnomalyEvent, AnomalyPhase, InMemoryEventBus, SensorHealthEvent
from resilience.risk.model import RiskModel
from resilience.risk.service import RiskService

T0 = datetime(2025, 7, 1, 12, 0, tzinfo=UTC)
LAT, LON = 36.0600, 120.3800
M_PER_DEG_LAT = 111_195.0


def north(metres: float) -> float:
    """Latitude ``metres`` north of the reference point."""
    return LAT + metres / M_PER_DEG_LAT


def east(metres: float) -> float:
    return LON + metres / (M_PER_DEG_LAT * math.cos(math.radians(LAT)))


def asset(
    id: str,
    kind: str,
    *,
    lat: float = LAT,
    lon: float = LON,
    district: str = "D1",
    criticality: int = 3,
    install_year: int | None = 2015,
    material: str | None = "pe",
    past_incidents: int = 0,
    name: str | None = None,
    **attributes: Any,
) -> dict[str, Any]:
    return {
        "id": id,
        "name": name or id,
        "kind": kind,
        "district_id": district,
        "lat": lat,
        "lon": lon,
        "criticality": criticality,
        "install_year": install_year,
        "material": material,
        "past_incidents": past_incidents,
        "attributes": attributes,
    }


def sensor(id: str, asset_id: str, kind: str) -> dict[str, Any]:
    return {"id": id, "asset_id": asset_id, "kind": kind, "active": True}


DISTRICTS = [{"id": "D1", "name": "Shinan", "population": 40_000}, {"id": "D2", "name": "Laoshan", "population": 0}]


def service(
    assets: list[dict[str, Any]],
    sensors: list[dict[str, Any]],
    model: RiskModel | None = None,
    districts: list[dict[str, Any]] | None = None,
) -> tuple[RiskService, InMemoryEventBus]:
    bus = InMemoryEventBus()
    svc = RiskService(
        assets=assets,
        districts=districts if districts is not None else DISTRICTS,
        sensors=sensors,
        bus=bus,
        subscribe_to=bus,
        model=model,
        clock=lambda: T0,
    )
    return svc, bus


def anomaly(
    sensor_id: str,
    asset_id: str,
    kind: str,
    *,
    value: float,
    level: Level = Level.NONE,
    score: float = 0.5,
    phase: AnomalyPhase = AnomalyPhase.OPEN,
    minutes: float = 10,
    aid: str | None = None,
    at: datetime | None = None,
) -> AnomalyEvent:
    ts = at or T0 + timedelta(minutes=minutes)
    return AnomalyEvent(
        aid or f"an-{sensor_id}",
        phase,
        sensor_id,
        asset_id,
        kind,
        "threshold",
        ts - timedelta(minutes=minutes),
        ts,
        score,
        score,
        value,
        level,
    )


def health(sensor_id: str, asset_id: str, kind: str, status: str, minutes: float = 20) -> SensorHealthEvent:
    return SensorHealthEvent(sensor_id, asset_id, kind, status, T0 + timedelta(minutes=minutes))
