"""The sensor catalogue as the detection worker needs it, taken from the process's registry cache."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from resilience.core.registry_cache import RegistrySnapshot


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    sensor_id: str
    asset_id: str
    kind: str
    thresholds: dict[str, float] | None
    expected_interval_s: float
    utility_id: str = ""
    detector_overrides: dict[str, Any] | None = None


def catalogue_entry(r: Mapping[str, Any]) -> CatalogueEntry:
    return CatalogueEntry(
        r["id"],
        r["asset_id"],
        r["kind"],
        r["thresholds"],
        r["expected_interval_s"],
        r["utility_id"],
        r["detector_overrides"],
    )


def catalogue_from(snapshot: RegistrySnapshot) -> dict[str, CatalogueEntry]:
    """Active sensors only: an inactive sensor's readings are refused at ingest and never scored."""
    return {r["id"]: catalogue_entry(r) for r in snapshot.sensors if r["active"]}
