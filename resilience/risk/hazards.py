"""The hazards the risk spectrum covers, as data.

Each ``HazardSpec`` says which asset kinds it applies to, which sensor kinds' anomalies are evidence
for it (with a weight, and whether that kind's graded limits are regulatory, so that an orange or red
breach forces at least that level), and which district-wide external drivers raise it (rainfall).
Adding a hazard is adding an entry here; nothing else branches on hazard names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from resilience.core.domain import AssetKind, Hazard


@dataclass(frozen=True)
class Evidence:
    """How much one sensor kind's anomaly says about a hazard (weight in [0, 1])."""

    weight: float
    regulatory: bool = False


@dataclass(frozen=True)
class HazardSpec:
    """One hazard: where it applies, what raises it, and its background rate."""

    name: str
    title: str
    asset_kinds: frozenset[str]
    evidence: Mapping[str, Evidence]
    drivers: Mapping[str, float] = field(default_factory=dict)  # district sensor kind -> weight
    base_rate: float = 0.015  # background likelihood with no evidence; x(1 + 4 v) with vulnerability v


def _kinds(*kinds: AssetKind) -> frozenset[str]:
    return frozenset(k.value for k in kinds)


DEFAULT_HAZARDS: dict[str, HazardSpec] = {
    h.name: h
    for h in [
        HazardSpec(
            Hazard.GAS_EXPLOSION.value,
            "Gas explosion",
            _kinds(AssetKind.GAS_PIPELINE, AssetKind.DRAINAGE_CULVERT, AssetKind.UTILITY_TUNNEL),
            {
                "methane": Evidence(1.0, regulatory=True),
                "gas_pressure": Evidence(0.6),
                "h2s": Evidence(0.2),
                "temperature": Evidence(0.2),
            },
        ),
        HazardSpec(
            Hazard.WATER_MAIN_BURST.value,
            "Water-main burst",
            _kinds(AssetKind.WATER_MAIN),
            {
                "water_pressure": Evidence(1.0, regulatory=True),
                "water_flow": Evidence(0.8),
                "leak_noise": Evidence(0.7),
            },
        ),
        HazardSpec(
            Hazard.WATERLOGGING.value,
            "Urban waterlogging",
            _kinds(AssetKind.DRAINAGE_CULVERT, AssetKind.ROAD, AssetKind.RIVER_SECTION, AssetKind.CRITICAL_FACILITY),
            {
                "drainage_level": Evidence(1.0, regulatory=True),
                "road_water_depth": Evidence(1.0, regulatory=True),
                "river_level": Evidence(0.8),
                "rainfall": Evidence(0.5),
            },
            drivers={"rainfall": 0.5},
            base_rate=0.01,
        ),
        HazardSpec(
            Hazard.STRUCTURAL_FAILURE.value,
            "Structural failure",
            _kinds(AssetKind.BRIDGE, AssetKind.BUILDING),
            {
                "tilt": Evidence(1.0, regulatory=True),
                "crack_width": Evidence(1.0, regulatory=True),
                "strain": Evidence(0.8),
                "deflection": Evidence(0.8),
                "bearing_displacement": Evidence(0.6),
                "settlement": Evidence(0.7),
                "vibration": Evidence(0.5),
                "temperature": Evidence(0.1),
            },
        ),
        HazardSpec(
            Hazard.GROUND_COLLAPSE.value,
            "Ground collapse",
            _kinds(AssetKind.ROAD, AssetKind.BUILDING),
            {"settlement": Evidence(1.0), "tilt": Evidence(0.3), "crack_width": Evidence(0.3)},
        ),
        HazardSpec(
            Hazard.HEATING_LEAK.value,
            "Heating-pipe leak",
            _kinds(AssetKind.HEATING_PIPE),
            {"heating_makeup_flow": Evidence(1.0), "temperature": Evidence(0.8, regulatory=True)},
        ),
        HazardSpec(
            Hazard.TOXIC_ATMOSPHERE.value,
            "Toxic / oxygen-deficient atmosphere",
            _kinds(AssetKind.UTILITY_TUNNEL, AssetKind.DRAINAGE_CULVERT),
            {"h2s": Evidence(1.0, regulatory=True), "methane": Evidence(0.3)},
        ),
    ]
}


def hazards_by_asset_kind(hazards: Mapping[str, HazardSpec]) -> dict[str, tuple[str, ...]]:
    """Asset kind -> the hazards assessed for it (declaration order)."""
    out: dict[str, list[str]] = {}
    for spec in hazards.values():
        for kind in spec.asset_kinds:
            out.setdefault(kind, []).append(spec.name)
    return {k: tuple(v) for k, v in out.items()}
