"""Alert DB fixtures on top of the suite's real PostgreSQL (tests/conftest.py: db_engine)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.dialects.postgresql import insert

from alerts.store.schema import ALERT_TABLES
from resilience.store.schema import assets, districts, sensors, utilities

SQUARE = {
    "type": "Polygon",
    "coordinates": [[[121.0, 31.0], [121.1, 31.0], [121.1, 31.1], [121.0, 31.1], [121.0, 31.0]]],
}


@pytest.fixture()
def adb(db_engine: Engine) -> Iterator[Engine]:
    """Empty alert tables plus a small registry: gas asset a1 (utility gasco), drainage wells w1/w2 in d1."""
    with db_engine.begin() as conn:
        conn.execute(text("TRUNCATE " + ", ".join(t.name for t in ALERT_TABLES) + " RESTART IDENTITY CASCADE"))
        conn.execute(
            insert(utilities)
            .values(
                [
                    {"id": "gasco", "name": "Gas Co", "contact_email": None, "webhook_url": None},
                    {"id": "drainco", "name": "Drain Co", "contact_email": None, "webhook_url": None},
                ]
            )
            .on_conflict_do_nothing()
        )
        conn.execute(
            insert(districts)
            .values(
                [
                    {"id": "d1", "name": "Pudong", "population": 1000, "polygon": SQUARE},
                    {"id": "d2", "name": "Xuhui", "population": 1000, "polygon": SQUARE},
                ]
            )
            .on_conflict_do_nothing()
        )
        conn.execute(
            insert(assets)
            .values(
                [
                    {
                        "id": "a1",
                        "name": "Main St gas main",
                        "kind": "gas_pipeline",
                        "district_id": "d1",
                        "utility_id": "gasco",
                        "lat": 31.05,
                        "lon": 121.05,
                    },
                    {
                        "id": "w1",
                        "name": "Well 7",
                        "kind": "drainage_culvert",
                        "district_id": "d1",
                        "utility_id": "drainco",
                        "lat": 31.06,
                        "lon": 121.06,
                    },
                    {
                        "id": "w2",
                        "name": "Well 8",
                        "kind": "drainage_culvert",
                        "district_id": "d1",
                        "utility_id": "drainco",
                        "lat": 31.07,
                        "lon": 121.07,
                    },
                ]
            )
            .on_conflict_do_nothing()
        )
        # Tests may give these assets attributes (a downstream link): every test starts without them.
        conn.execute(assets.update().where(assets.c.id.in_(["a1", "w1", "w2"])).values(attributes={}))
        conn.execute(
            insert(sensors)
            .values(
                [
                    {"id": s, "asset_id": a, "utility_id": u, "kind": k, "unit": "x", "expected_interval_s": 60}
                    for s, a, u, k in [
                        ("s1", "a1", "gasco", "methane"),
                        ("s2", "a1", "gasco", "methane"),
                        ("lv1", "w1", "drainco", "drainage_level"),
                        ("lv2", "w2", "drainco", "drainage_level"),
                    ]
                ]
            )
            .on_conflict_do_nothing()
        )
    yield db_engine


def set_utility_webhook(engine: Engine, utility: str, url: str | None, email: str | None = None) -> None:
    with engine.begin() as conn:
        conn.execute(utilities.update().where(utilities.c.id == utility).values(webhook_url=url, contact_email=email))
