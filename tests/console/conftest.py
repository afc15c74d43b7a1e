"""The console's tests: a real uvicorn server of the app on a free port against the test database, a small
city (two districts, a gas main beside a culvert with a methane sensor, a water main), and a helper that
turns a real reading into alerts and risk the way the workers do (ingest -> detectors -> alert engine, risk)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, insert, text

from alerts.api_support import get_rules
from alerts.consumer import AlertEngine
from resilience.api.main import create_app
from resilience.core.domain import Reading
from resilience.core.events import AnomalyEvent, SensorHealthEvent
from resilience.core.settings import get_settings
from resilience.store.readings import query_raw
from resilience.store.schema import assets, districts, sensors, utilities
from resilience.workers.detector_worker import DetectionWorker
from resilience.workers.engine_worker import RiskWorker
from tests.auth import make_key
from tests.databases import PackageDatabases
from tests.live_server import LiveServer
from tests.live_server import live_server as serve

WAIT_S = 30.0


@dataclass
class City:
    tag: str
    utility: str
    districts: list[str]
    culvert: str
    gas_main: str
    water_main: str
    methane: str
    keys: dict[str, str]  # role -> API key


def _square(lon: float, lat: float, size: float = 0.03) -> dict[str, Any]:
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


@pytest.fixture(scope="package")
def db_engine(package_databases: PackageDatabases) -> Engine:
    """The console's package database (tests/databases.py), at package scope for the server and city below:
    its map and spectrum show this package's city only."""
    return package_databases.engine("console")


@pytest.fixture(scope="package")
def live_server(db_engine: Engine) -> Iterator[LiveServer]:
    """The real app under uvicorn in a thread (tests/live_server.py)."""
    with serve(create_app(engine=db_engine)) as server:
        yield server


@pytest.fixture(scope="package")
def city(db_engine: Engine) -> City:
    """Two districts side by side, a culvert 20 m from a gas main (coupled), a water main; a key per role."""
    tag = uuid.uuid4().hex[:6].upper()
    utility, d1, d2 = f"CON-{tag}-GAS", f"CON-{tag}-D1", f"CON-{tag}-D2"
    culvert, gas_main, water_main = f"CON-{tag}-CULVERT", f"CON-{tag}-GASMAIN", f"CON-{tag}-WATER"
    with db_engine.begin() as conn:
        conn.execute(insert(utilities), [{"id": utility, "name": "Console Gas"}])
        conn.execute(
            insert(districts),
            [
                {"id": d1, "name": "Harbour", "population": 120000, "polygon": _square(120.30, 36.00)},
                {"id": d2, "name": "Hillside", "population": 80000, "polygon": _square(120.33, 36.00)},
            ],
        )
        conn.execute(
            insert(assets),
            [
                {
                    "id": culvert,
                    "name": "Culvert under Harbour Rd",
                    "kind": "drainage_culvert",
                    "district_id": d1,
                    "utility_id": utility,
                    "lat": 36.005,
                    "lon": 120.305,
                    "criticality": 4,
                },
                {
                    "id": gas_main,
                    "name": "DN300 gas main",
                    "kind": "gas_pipeline",
                    "district_id": d1,
                    "utility_id": utility,
                    "lat": 36.00515,
                    "lon": 120.30515,
                    "criticality": 4,
                },
                {
                    "id": water_main,
                    "name": "Hillside water main",
                    "kind": "water_main",
                    "district_id": d2,
                    "utility_id": utility,
                    "lat": 36.02,
                    "lon": 120.34,
                    "criticality": 3,
                },
            ],
        )
        conn.execute(
            insert(sensors),
            [
                {
                    "id": f"CON-{tag}-CH4",
                    "asset_id": culvert,
                    "utility_id": utility,
                    "kind": "methane",
                    "unit": "percent_lel",
                    "expected_interval_s": 60,
                }
            ],
        )
    keys = {
        role: make_key(db_engine, role, name=f"console-{role}") for role in ("admin", "operator", "engineer", "viewer")
    }
    return City(tag, utility, [d1, d2], culvert, gas_main, water_main, f"CON-{tag}-CH4", keys)


class Pipeline:
    """What the detector and engine workers do with committed readings, run in-process for a test."""

    def __init__(self, engine: Engine) -> None:
        self.db = engine
        self.detector = DetectionWorker(engine, get_settings())
        self.alerts = AlertEngine(engine, None, get_rules(), now=lambda: datetime.now(UTC))
        self.risk = RiskWorker(engine)

    def process(self, sensor_id: str, since: datetime) -> list[Any]:
        """Score the sensor's stored readings since ``since``; hand the events to the alert engine and risk."""
        with self.db.connect() as conn:
            rows = query_raw(
                conn, sensor_id=sensor_id, start=since, end=datetime.now(UTC) + timedelta(minutes=6), limit=10_000
            )
        readings = [Reading(sensor_id=sensor_id, ts=r["ts"], value=r["value"]) for r in rows]
        events = self.detector.handle(readings)
        fired = []
        for e in events:
            if isinstance(e, AnomalyEvent | SensorHealthEvent):
                fired += self.alerts.handle(e)
                with self.db.begin() as conn:
                    self.risk.handle_in(e, conn)
        return fired


@pytest.fixture(scope="package")
def pipeline(db_engine: Engine, city: City) -> Pipeline:
    return Pipeline(db_engine)


def add_culvert(db_engine: Engine, city: City, pipeline: Pipeline) -> tuple[str, str]:
    """A fresh culvert with its own methane sensor beside the gas main (so each test gets its own alert)."""
    n = uuid.uuid4().hex[:4].upper()
    asset_id, sensor_id = f"{city.culvert}-{n}", f"{city.methane}-{n}"
    with db_engine.begin() as conn:
        conn.execute(
            insert(assets),
            [
                {
                    "id": asset_id,
                    "name": f"Culvert {n}",
                    "kind": "drainage_culvert",
                    "district_id": city.districts[0],
                    "utility_id": city.utility,
                    "lat": 36.0051,
                    "lon": 120.3052,
                    "criticality": 4,
                }
            ],
        )
        conn.execute(
            insert(sensors),
            [
                {
                    "id": sensor_id,
                    "asset_id": asset_id,
                    "utility_id": city.utility,
                    "kind": "methane",
                    "unit": "percent_lel",
                    "expected_interval_s": 60,
                }
            ],
        )
    pipeline.detector.refresh_catalogue()
    assert pipeline.risk.follow_registry()  # as the engine's minute job does: the culvert has risk now
    return asset_id, sensor_id


def post_readings(server: LiveServer, city: City, sensor_id: str, values: list[tuple[float, float]]) -> None:
    """Readings (epoch seconds, %LEL) through the real HTTP ingest, as the gas utility (an admin acting for it)."""
    body = [{"t": t, "v": v} for t, v in values]
    r = httpx.post(
        f"{server.url}/api/v1/ingest",
        params={"sensor_id": sensor_id},
        json=body,
        timeout=WAIT_S,
        headers={"X-API-Key": city.keys["admin"], "X-Utility-Id": city.utility},
    )
    assert r.status_code == 200 and r.json()["accepted"] == len(values), r.text


def quiet(server: LiveServer, city: City, sensor_id: str) -> datetime:
    """Half an hour of normal readings; returns where they start."""
    now = time.time()
    post_readings(server, city, sensor_id, [(now - 1800 + 60 * i, 0.4 + 0.05 * (i % 3)) for i in range(30)])
    return datetime.fromtimestamp(now - 1900, UTC)


def breach(
    server: LiveServer, city: City, pipeline: Pipeline, sensor_id: str, since: datetime, value: float = 60.0
) -> list[Any]:
    """One methane reading at ``value`` %LEL after the quiet ones: the alerts the platform raises for it."""
    post_readings(server, city, sensor_id, [(time.time() - 2, value)])
    return pipeline.process(sensor_id, since)


def alert_state(db_engine: Engine, alert_id: int) -> str:
    with db_engine.connect() as conn:
        return conn.execute(text("SELECT state FROM alerts WHERE id = :i"), {"i": alert_id}).scalar_one()
