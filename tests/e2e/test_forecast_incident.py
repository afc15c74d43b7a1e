"""Warning before the limit, on the simulator against real PostgreSQL: a slow gas seep into a culvert is
projected to reach red before it does, through the real detector worker and the durable hand-off.

The seep rises as C(t) = 60 (1 - exp(-t / 30 min)) %LEL: red (50 %LEL) about 54 min after onset. The worker
must publish a forecast of red before the first red reading, keep the projection in force in ``forecasts``
while it stands, project nothing over the flat half hour before onset, and the run's score must say the lead
it gained. Times are simulated; nothing depends on wall-clock speed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from alerts.evaluate import Incident, evaluate
from alerts.forecast_score import score_forecasts
from resilience.core.domain import Reading
from resilience.core.settings import Settings, get_settings
from resilience.simulator import Simulator, build_city
from resilience.simulator.incidents import gas_leak
from resilience.simulator.registry import seed_registry
from resilience.store import handoff
from resilience.store.db import make_engine
from resilience.store.forecasts import current_forecasts, forecast_events
from resilience.store.readings import insert_new_readings, sensor_window
from resilience.store.timeseries import get_backend
from resilience.workers.detector_worker import DetectionWorker
from tests.conftest import fresh_database

pytestmark = pytest.mark.slow  # end to end: a simulated incident through the detector worker

START = datetime(2024, 6, 1, 2, 0, tzinfo=UTC)
ONSET = START + timedelta(minutes=40)
DURATION = timedelta(hours=2)
STEP = timedelta(minutes=5)
RED = 50.0


@dataclass
class SeepRun:
    engine: Engine
    sensor_id: str
    incident: Incident
    in_force: list[dict[str, Any]]  # the sensor's forecasts row seen after each step, when there was one


@pytest.fixture(scope="module")
def seep(services: Settings) -> Iterator[SeepRun]:
    with fresh_database(services, "forecast") as url:
        engine = make_engine(url)
        try:
            yield _run(engine)
        finally:
            engine.dispose()


def _run(engine: Engine) -> SeepRun:
    city = build_city(11, n_sensors=80)
    asset = next(a for a in city.assets if city.sensors_of(a.id, "methane"))
    sensor_id = city.sensors_of(asset.id, "methane")[0].id
    inc = gas_leak(city, asset, ONSET, DURATION, 60.0, 1800.0, "INC-SEEP")
    sim = Simulator(city, START, seed=11, incidents=[inc], report_by_exception=False)
    with engine.begin() as conn:
        seed_registry(conn, city)
    settings = get_settings()
    worker = DetectionWorker(engine, settings)
    in_force: list[dict[str, Any]] = []
    now = START
    while now < ONSET + timedelta(minutes=90):
        now += STEP
        batch: list[Reading] = [r for r in sim.step(now) if r.sensor_id == sensor_id]
        with engine.begin() as conn:
            stored = insert_new_readings(conn, batch, get_backend(conn))
            handoff.hand_off(conn, stored, transport="http", shards=settings.detection_shards)
        while sum(worker.consume_once(s) for s in worker.shards):
            pass
        with engine.connect() as conn:
            in_force += current_forecasts(conn, sensor_ids=[sensor_id])
    truth = Incident(
        inc.incident_id, inc.type, inc.hazard.value, asset.id, (sensor_id,), asset.district_id, ONSET, inc.end
    )
    return SeepRun(engine, sensor_id, truth, in_force)


def _first_red_reading(run: SeepRun) -> datetime:
    with run.engine.connect() as conn:
        values = sensor_window(conn, sensor_id=run.sensor_id, start=START, end=ONSET + DURATION)
    return next(v.ts for v in values if v.value >= RED)


def test_red_is_projected_before_the_first_red_reading(seep: SeepRun) -> None:
    crossed = _first_red_reading(seep)
    with seep.engine.connect() as conn:
        events = forecast_events(conn, [seep.sensor_id])
    assert events and events[0]["phase"] == "issue"
    assert all(datetime.fromisoformat(e["ts"]) > ONSET for e in events), "a flat feed projects nothing"
    red = [e for e in events if any(p["level"] == "red" for p in e["projections"])]
    assert red, [e["explanation"] for e in events]
    first_red = datetime.fromisoformat(red[0]["ts"])
    assert first_red < crossed
    print("forecast events:", [(e["ts"][11:16], e["phase"], e["explanation"]) for e in events], "red at", crossed)
    assert red[0]["message"]["code"] == "forecast.reach" and red[0]["message"]["params"]["level"] == "red"
    # once the trend is at red there is nothing above it to project: the projection is withdrawn (the fitted
    # level may reach the limit a minute before a raw reading does)
    assert events[-1]["phase"] == "withdraw" and datetime.fromisoformat(events[-1]["ts"]) > first_red
    assert events[-1]["message"] == {"code": "forecast.reached", "params": {"level": "red"}}
    assert events[-1]["projections"] == [] and crossed - datetime.fromisoformat(events[-1]["ts"]) < STEP


def test_the_projection_in_force_is_in_the_forecasts_table_while_it_stands(seep: SeepRun) -> None:
    assert seep.in_force, "no forecasts row was ever in force"
    assert {r["sensor_id"] for r in seep.in_force} == {seep.sensor_id}
    assert any(p["level"] == "red" for r in seep.in_force for p in r["projections"])
    with seep.engine.connect() as conn:
        assert current_forecasts(conn, sensor_ids=[seep.sensor_id]) == []  # withdrawn after red was reached


def test_the_score_gives_the_lead_time_and_evaluate_reports_it(seep: SeepRun) -> None:
    crossed = _first_red_reading(seep)
    with seep.engine.connect() as conn:
        events = forecast_events(conn, [seep.sensor_id])
        score = score_forecasts(conn, [seep.incident], end=ONSET + timedelta(minutes=90))
        summary = evaluate(conn, [seep.incident], end=ONSET + timedelta(minutes=90))
    first_red = min(
        datetime.fromisoformat(e["ts"]) for e in events if any(p["level"] == "red" for p in e["projections"])
    )
    assert score["forecast_incidents"] == 1
    assert score["lead_time_median_s"] == round((crossed - first_red).total_seconds(), 1) > 0
    assert summary["lead_time_median_s"] == score["lead_time_median_s"]
    assert "forecast_false_share" in summary
