"""A small registry shared by the spine tests: two utilities, one district, a few sensors."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, insert, text

from resilience.store.schema import assets, districts, sensors, utilities

SENSORS = [
    # id, utility, kind, unit, asset
    ("CH4-1", "gasco", "methane", "percent_lel", "A-CULVERT"),
    ("P-1", "waterco", "water_pressure", "MPa", "A-MAIN"),
    ("P-2", "waterco", "water_pressure", "MPa", "A-MAIN"),
    ("T-1", "waterco", "temperature", "degC", "A-MAIN"),
]


@pytest.fixture(scope="session")
def registry(db_engine: Engine) -> list[tuple[str, str, str, str, str]]:
    with db_engine.begin() as conn:
        if conn.execute(text("SELECT count(*) FROM sensors WHERE id = 'CH4-1'")).scalar():
            return SENSORS
        conn.execute(insert(utilities), [{"id": "gasco", "name": "Gas Co"}, {"id": "waterco", "name": "Water Co"}])
        conn.execute(insert(districts), [{"id": "D1", "name": "Shinan", "population": 40000}])
        conn.execute(insert(assets), [
            {"id": "A-CULVERT", "name": "Culvert under Zhongshan Rd", "kind": "drainage_culvert", "district_id": "D1",
             "utility_id": "gasco", "lat": 36.07, "lon": 120.38},
            {"id": "A-MAIN", "name": "DN600 main", "kind": "water_main", "district_id": "D1", "utility_id": "waterco",
             "lat": 36.071, "lon": 120.381}])
        conn.execute(insert(sensors), [{"id": s, "utility_id": u, "kind": k, "unit": unit, "asset_id": a,
                                        "expected_interval_s": 60} for s, u, k, unit, a in SENSORS])
    return SENSORS
