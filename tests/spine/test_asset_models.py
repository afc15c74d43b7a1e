"""Per-asset models: trained from stored history, versioned in ml_models, reloaded, and scoring events."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from resilience.detection.asset_models import AssetModelScorer, load_latest_models, train_asset_models
from resilience.core.domain import Reading
from resilience.core.events import AnomalyPhase
from resilience.store.readings import write_readings
from resilience.store.timeseries import get_backend


def test_train_store_reload_and_score(db_engine, registry):
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    rng = random.Random(5)
    rows: list[Reading] = []
    for i in range(2 * 24 * 60):  # two days at one minute: flow and pressure move together (head loss)
        t = now - timedelta(minutes=i)
        demand = 1.0 + 0.4 * rng.random()
        rows.append(Reading("AM-FLOW", t, 100 * demand + rng.gauss(0, 1)))
        rows.append(Reading("AM-PRES", t, 0.45 - 0.1 * demand + rng.gauss(0, 0.002)))
    with db_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO assets (id, name, kind, lat, lon) VALUES ('AM-MAIN', 'Modelled main', "
                "'water_main', 36.1, 120.4) ON CONFLICT DO NOTHING"
            )
        )
        for sid, kind, unit in (("AM-FLOW", "water_flow", "m**3/h"), ("AM-PRES", "water_pressure", "MPa")):
            conn.execute(
                text(
                    "INSERT INTO sensors (id, asset_id, utility_id, kind, unit, expected_interval_s) "
                    "VALUES (:i, 'AM-MAIN', 'waterco', :k, :u, 60) ON CONFLICT DO NOTHING"
                ),
                {"i": sid, "k": kind, "u": unit},
            )
        write_readings(conn, rows, get_backend(conn))
    assert train_asset_models(db_engine, now + timedelta(minutes=1)) >= 1
    with db_engine.connect() as conn:
        version, n = conn.execute(text("SELECT version, n_samples FROM ml_models WHERE asset_id = 'AM-MAIN'")).one()
        models = load_latest_models(conn)
    assert version.startswith("pca-") and n >= 500
    model = models["AM-MAIN"]
    assert model.version_ == version and model.sensor_ids_ == ["AM-FLOW", "AM-PRES"]
    scorer = AssetModelScorer({"AM-MAIN": model}, {"AM-FLOW": "water_flow", "AM-PRES": "water_pressure"})
    scorer.observe("AM-FLOW", 120.0)
    scorer.observe("AM-PRES", 0.33)  # consistent with the demand
    assert scorer.score(now) == []
    scorer.observe("AM-FLOW", 160.0)  # much more flow but pressure has not dropped: the pair is inconsistent
    scorer.observe("AM-PRES", 0.40)
    opened = scorer.score(now + timedelta(minutes=5))
    assert len(opened) == 1 and opened[0].phase is AnomalyPhase.OPEN and opened[0].asset_id == "AM-MAIN"
    assert opened[0].detector == f"asset_model:{version}" and "combined behaviour of 2 sensors" in opened[0].explanation
    scorer.observe("AM-FLOW", 120.0)
    scorer.observe("AM-PRES", 0.33)
    closed = scorer.score(now + timedelta(minutes=10))
    assert [e.phase for e in closed] == [AnomalyPhase.CLOSE] and closed[0].anomaly_id == opened[0].anomaly_id
