"""Issue 22: an engineer re-baselines an asset that has settled in a new steady state, against real PostgreSQL.

A water main's pressure steps up for good (a valve re-set: same flow, higher pressure), so its state model holds
one anomaly open and the alert service raises an alert from it. A re-baseline over a window that still holds the
old state is refused with the reason and audited; one over the new state alone (through the API, as an engineer)
refits the model, is audited with the engineer's key, the real detector worker takes the new version at its next
snapshot, the held anomaly closes and the asset's alert clears.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from alerts.api_support import get_rules
from alerts.service import AlertService
from resilience.api.main import create_app
from resilience.core.domain import Reading
from resilience.core.events import Event, event_from_dict
from resilience.core.settings import Settings, get_settings
from resilience.detection.rebaseline import RebaselineRefused, rebaseline
from resilience.detection.state_training import fit_asset_state_model
from resilience.runtime.scheduler_process import build_scheduler, run_rebaselines
from resilience.store import handoff
from resilience.store.db import make_engine
from resilience.store.readings import insert_new_readings, write_readings
from resilience.store.state_models import rebaselines
from resilience.store.timeseries import get_backend
from resilience.workers.detector_worker import DetectionWorker
from tests.auth import make_key
from tests.conftest import fresh_database
from tests.detection.helpers import flow_pressure_rows
from tests.registry import register_sensors

T0 = datetime(2024, 10, 7, tzinfo=UTC)
HISTORY = 2 * 1440
STEP = HISTORY + 120  # two normal hours into the third day, the pressure steps up and stays up
NEW = 26 * 60  # the new state runs a day and two hours before the engineer accepts it
FLOW, PRESSURE, ASSET = "RB-FLOW", "RB-PRES", "MAIN-RB"


@pytest.fixture(scope="module")
def engine(services: Settings) -> Iterator[Engine]:
    with fresh_database(services, "rebaseline") as url:
        eng = make_engine(url)
        yield eng
        eng.dispose()


def _readings(X: np.ndarray, rows: range) -> list[Reading]:
    return [
        Reading(s, T0 + timedelta(minutes=i, seconds=10), float(X[i, j]))
        for i in rows
        for j, s in enumerate((FLOW, PRESSURE))
    ]


def _stream(engine: Engine, worker: DetectionWorker, X: np.ndarray, rows: range) -> None:
    """Hand the rows' readings to detection an hour at a time, as ingest does, and let the worker consume them."""
    shards = get_settings().detection_shards
    for i in range(rows.start, rows.stop, 60):
        with engine.begin() as conn:
            stored = insert_new_readings(conn, _readings(X, range(i, min(i + 60, rows.stop))), get_backend(conn))
            handoff.hand_off(conn, stored, transport="http", shards=shards)
        while sum(worker.consume_once(s) for s in worker.shards):
            pass


def _state_anomalies(engine: Engine) -> list[tuple[str, datetime, datetime | None]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                'SELECT id, start, "end" FROM anomalies WHERE asset_id = :a '
                "AND detector LIKE 'state_model:%' ORDER BY start"
            ),
            {"a": ASSET},
        )
        return [(r.id, r.start, r.end) for r in rows]


def _fold(engine: Engine, now: datetime, after: int = 0) -> tuple[int, list[tuple[int, str, datetime | None]]]:
    """Fold the worker's anomaly events after event ``after`` into alerts, as the alert service does; the last
    event folded and every alert (id, sources, cleared_at)."""
    with engine.begin() as conn:
        rows = conn.execute(
            text("SELECT id, payload FROM events WHERE kind = 'anomaly' AND id > :i ORDER BY id"), {"i": after}
        ).all()
        events: list[Event] = [event_from_dict(r.payload) for r in rows if r.payload.get("asset_id") == ASSET]
        AlertService(conn, get_rules(), now).handle_many(events)
        found = conn.execute(text("SELECT id, sources::text AS s, cleared_at FROM alerts ORDER BY id")).all()
    return (rows[-1].id if rows else after), [(r.id, r.s, r.cleared_at) for r in found]


def test_rebaseline_refuses_a_mixed_window_then_closes_the_held_state(engine: Engine) -> None:
    X = flow_pressure_rows(STEP + NEW + 60, 9)
    X[STEP:, 1] += 0.03  # fifteen times the pressure's noise, for good
    with engine.begin() as conn:
        for sid, kind, unit in ((FLOW, "water_flow", "m3/h"), (PRESSURE, "water_pressure", "MPa")):
            register_sensors(
                conn, utility="U-RB", asset=ASSET, asset_kind="water_main", sensor_kind=kind, unit=unit,
                sensor_ids=[sid], interval_s=60,
            )  # fmt: skip
        write_readings(conn, _readings(X, range(HISTORY)), get_backend(conn))
    first = fit_asset_state_model(engine, ASSET, [FLOW, PRESSURE], T0, T0 + timedelta(minutes=HISTORY))
    assert first is not None
    worker = DetectionWorker(engine, get_settings())
    _stream(engine, worker, X, range(HISTORY, STEP + NEW))
    (held,) = [a for a in _state_anomalies(engine) if a[1] >= T0 + timedelta(minutes=STEP)]
    assert held[2] is None, "the new steady state is held as one open anomaly"
    now = T0 + timedelta(minutes=STEP + NEW)
    folded, alerts = _fold(engine, now)
    (alert_id,) = [a for a, sources, cleared_at in alerts if held[0] in sources and cleared_at is None]

    with pytest.raises(RebaselineRefused, match="not one normal state") as refused:
        rebaseline(engine, ASSET, requested_by="test", reason="valve re-set on 7 Oct", hours=48)
    assert refused.value.kind == "refused" and refused.value.audit_id is not None

    client = TestClient(create_app(engine=engine))
    engineer = {"X-API-Key": make_key(engine, "engineer", name="duty-engineer")}
    viewer = {"X-API-Key": make_key(engine, "viewer")}
    url = f"/api/v1/assets/{ASSET}/state-model/rebaseline"
    assert client.post(url, json={"reason": "accepted"}, headers=viewer).status_code == 403
    assert client.post(url, json={"reason": "  "}, headers=engineer).status_code == 422
    assert (
        client.post("/api/v1/assets/NO-SUCH/state-model/rebaseline", json={"reason": "x"}, headers=engineer).status_code
        == 404
    )
    answer = client.post(url, json={"reason": "valve re-set on 7 Oct, new pressure is normal"}, headers=engineer)
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "pending" and answer.json()["requested_by"].startswith("duty-engineer [")
    job = build_scheduler(engine, get_settings()).get_job("state-model-rebaselines")
    assert job is not None and job.func is run_rebaselines
    assert run_rebaselines(engine) == 1 and run_rebaselines(engine) == 0  # the scheduler carries it out, once

    with engine.connect() as conn:
        trail = rebaselines(conn, asset_id=ASSET)
    assert [t["status"] for t in trail] == ["fitted", "refused"]
    done = trail[0]
    assert done["previous_version"] == first and done["version"] != first and done["n_rows"] >= 1400
    assert done["requested_by"].startswith("duty-engineer [") and "valve re-set" in done["reason"]
    assert done["completed_at"] is not None and done["window_end"] > done["window_start"]
    assert "not one normal state" in trail[1]["refused"] and trail[1]["requested_by"] == "test"
    assert trail[1]["version"] is None and trail[1]["n_rows"] == 2879
    listed = client.get(f"/api/v1/assets/{ASSET}/state-model/rebaselines", headers=engineer).json()
    assert [(t["id"], t["status"]) for t in listed] == [(t["id"], t["status"]) for t in trail]

    worker.snapshot()  # the detector takes the new version over here, the open anomaly with it
    assert worker.state_models.versions() == {ASSET: done["version"]}
    _stream(engine, worker, X, range(STEP + NEW, STEP + NEW + 60))
    (after,) = [a for a in _state_anomalies(engine) if a[1] >= T0 + timedelta(minutes=STEP)]
    assert after[0] == held[0] and after[2] is not None, "the held state closed under the accepted baseline"
    assert after[2] >= now
    _, alerts = _fold(engine, now + timedelta(hours=1), folded)
    assert [c is not None for a, _, c in alerts if a == alert_id] == [True], "the asset's alert cleared"
