"""A seeded synthetic city (registry rows and anomaly events) for the risk benchmark and tests."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from resilience.core.domain import ASSET_SENSOR_KINDS, SENSOR_KINDS, AssetKind, Level, level_for_value
from resilience.core.events import AnomalyEvent, AnomalyPhase

CENTRE = (36.07, 120.38)
_KIND_SHARE = {
    AssetKind.GAS_PIPELINE: 0.16,
    AssetKind.WATER_MAIN: 0.16,
    AssetKind.DRAINAGE_CULVERT: 0.16,
    AssetKind.RIVER_SECTION: 0.03,
    AssetKind.BRIDGE: 0.05,
    AssetKind.BUILDING: 0.14,
    AssetKind.UTILITY_TUNNEL: 0.06,
    AssetKind.HEATING_PIPE: 0.08,
    AssetKind.ROAD: 0.12,
    AssetKind.CRITICAL_FACILITY: 0.04,
}
_MATERIALS = ["cast_iron", "steel", "ductile_iron", "pe", "concrete", "reinforced_concrete", "masonry"]
_FACILITIES = ["hospital", "school", "metro_station"]


def build_city(
    n_assets: int = 3000, n_sensors: int = 10000, n_districts: int = 12, size_km: float = 20.0, seed: int = 0
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Assets spread over a ``size_km`` square split into district stripes; sensors by kind of asset."""
    rng = np.random.default_rng(seed)
    kinds = list(_KIND_SHARE)
    p = np.array([_KIND_SHARE[k] for k in kinds])
    drawn = rng.choice(len(kinds), size=n_assets, p=p / p.sum())
    dlat = size_km / 111.0
    dlon = size_km / (111.0 * math.cos(math.radians(CENTRE[0])))
    districts = [
        {"id": f"D{i:02d}", "name": f"District {i}", "population": int(rng.integers(20_000, 400_000))}
        for i in range(n_districts)
    ]
    assets: list[dict[str, Any]] = []
    last_culvert: dict[str, str] = {}
    for i, k in enumerate(drawn):
        kind = kinds[int(k)]
        x, y = rng.random(), rng.random()
        district = str(districts[min(n_districts - 1, int(x * n_districts))]["id"])
        attrs: dict[str, Any] = {}
        if kind is AssetKind.CRITICAL_FACILITY:
            attrs["facility"] = _FACILITIES[int(rng.integers(len(_FACILITIES)))]
        if kind is AssetKind.DRAINAGE_CULVERT:
            if district in last_culvert and rng.random() < 0.7:
                attrs["downstream_of"] = last_culvert[district]
            last_culvert[district] = f"A{i:05d}"
        assets.append(
            {
                "id": f"A{i:05d}",
                "name": f"{kind.value.replace('_', ' ')} {i}",
                "kind": kind.value,
                "district_id": district,
                "lat": CENTRE[0] - dlat / 2 + y * dlat,
                "lon": CENTRE[1] - dlon / 2 + x * dlon,
                "criticality": int(rng.integers(1, 6)),
                "install_year": int(rng.integers(1950, 2024)),
                "material": _MATERIALS[int(rng.integers(len(_MATERIALS)))],
                "past_incidents": int(rng.poisson(0.5)),
                "attributes": attrs,
            }
        )
    monitored = [a for a in assets if ASSET_SENSOR_KINDS[AssetKind(a["kind"])]]
    sensors: list[dict[str, Any]] = []
    for j in range(n_sensors):
        a = monitored[j % len(monitored)] if j < len(monitored) else monitored[int(rng.integers(len(monitored)))]
        options = ASSET_SENSOR_KINDS[AssetKind(a["kind"])]
        sensor_kind = (
            options[j // len(monitored) % len(options)]
            if j < 2 * len(monitored)
            else options[int(rng.integers(len(options)))]
        )
        sensors.append({"id": f"S{j:05d}", "asset_id": a["id"], "kind": sensor_kind, "active": True})
    return assets, districts, sensors


def random_anomaly(
    rng: np.random.Generator, sensors: list[dict[str, Any]], ts: datetime, open_ids: dict[str, dict[str, Any]]
) -> AnomalyEvent:
    """Open, update or close a random anomaly; graded kinds get values around their limits."""
    if open_ids and rng.random() < 0.5:
        aid = list(open_ids)[int(rng.integers(len(open_ids)))]
        s = open_ids[aid]
        phase = AnomalyPhase.CLOSE if rng.random() < 0.4 else AnomalyPhase.UPDATE
        if phase is AnomalyPhase.CLOSE:
            del open_ids[aid]
    else:
        s = sensors[int(rng.integers(len(sensors)))]
        aid = f"an-{ts.timestamp():.0f}-{rng.integers(1 << 30)}"
        open_ids[aid] = s
        phase = AnomalyPhase.OPEN
    spec = SENSOR_KINDS[s["kind"]]
    if spec.thresholds:
        top = max(spec.thresholds.values())
        value = float(rng.uniform(0.3, 1.2) * top)
        level = level_for_value(value, spec.thresholds, spec.direction)
    else:
        value, level = float(rng.normal()), Level.NONE
    score = float(rng.uniform(0.3, 1.0))
    return AnomalyEvent(
        aid,
        phase,
        s["id"],
        s["asset_id"],
        s["kind"],
        "bench",
        ts - timedelta(minutes=10),
        ts,
        score,
        score,
        value,
        level,
    )
