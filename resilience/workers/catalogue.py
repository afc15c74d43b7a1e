"""The sensor catalogue as the detection and risk workers need it, loaded from the registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from resilience.store.db import Connection
from resilience.store.registry import active_sensors


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    sensor_id: str
    asset_id: str
    kind: str
    thresholds: dict[str, float] | None
    expected_interval_s: float
    utility_id: str = ""
    detector_overrides: dict[str, Any] | None = None


def load_catalogue(conn: Connection) -> dict[str, CatalogueEntry]:
    return {r["id"]: CatalogueEntry(r["id"], r["asset_id"], r["kind"], r["thresholds"], r["expected_interval_s"],
                                    r["utility_id"], r["detector_overrides"]) for r in active_sensors(conn)}
