"""A small registry shared by the spine tests: two utilities, one district, a few sensors."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlalchemy.dialects.postgresql import insert

from resilience.store.schema import assets, districts, sensors, utilities

SENSORS = [
    # id, utility, kind, unit, asset
    ("CH4-1", "gasco", "methane", "percent_lel", "A-CULVERT"),
    ("P-1", "waterco", "water_pressure", "MPa", "A-MAIN"),
    ("P-2", "waterco", "water_pressure", "MPa", "A-MAIN"),
    ("T-1", "waterco", "temperature", "degC", "A-MAIN"),
]


@pytest.fixture(scope="module")
def registry(db_engine: Engine) -> list[tuple[str, str, str, str, str]]:
    with db_engine.begin() as conn:
        # Every module of the package asks for it on the package database: insert only what is missing.
        conn.execute(
            insert(utilities).on_conflict_do_nothing(),
            [{"id": "gasco", "name": "Gas Co"}, {"id": "waterco", "name": "Water Co"}],
        )
        conn.execute(
            insert(districts).on_conflict_do_nothing(), [{"id": "D1-SPINE", "name": "Shinan", "population": 40000}]
        )
        conn.execute(
            insert(assets).on_conflict_do_nothing(),
            [
                {
                    "id": "A-CULVERT",
                    "name": "Culvert under Zhongshan Rd",
                    "kind": "drainage_culvert",
                    "district_id": "D1-SPINE",
                    "utility_id": "gasco",
                    "lat": 36.07,
                    "lon": 120.38,
                },
                {
                    "id": "A-MAIN",
                    "name": "DN600 main",
                    "kind": "water_main",
                    "district_id": "D1-SPINE",
                    "utility_id": "waterco",
                    "lat": 36.071,
                    "lon": 120.381,
                },
            ],
        )
        conn.execute(
            insert(sensors).on_conflict_do_nothing(),
            [
                {"id": s, "utility_id": u, "kind": k, "unit": unit, "asset_id": a, "expected_interval_s": 60}
                for s, u, k, unit, a in SENSORS
            ],
        )
    return SENSORS
