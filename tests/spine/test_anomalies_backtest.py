"""Anomaly events stored by the detection worker are queryable; stored history can be backtested."""

from __future__ import annotations

import csv
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from resilience.cli.backtest import replay
from resilience.core.domain import Level, Reading
from resilience.core.events import AnomalyEvent, AnomalyPhase
from resilience.store.eventlog import PgEventLog
from resilience.store.readings import write_readings
from resilience.store.timeseries import get_backend
from resilience.workers.detector_worker import persist_events
from tests.spine.workers import ROOT


def _history(db_engine, sensor: str, start: datetime) -> list[Reading]:
    rng = random.Random(3)
    rows = [Reading(sensor, start + timedelta(minutes=i), 0.30 + rng.gauss(0, 0.004)) for i in range(180)]
    rows += [Reading(sensor, start + timedelta(minutes=180 + i), 0.12) for i in range(5)]  # a burst: below orange
    with db_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO sensors (id, asset_id, utility_id, kind, unit, expected_interval_s) "
                f"VALUES ('{sensor}', 'A-MAIN', 'waterco', 'water_pressure', 'MPa', 60) ON CONFLICT DO NOTHING"
            )
        )
        write_readings(conn, rows, get_backend(conn))
    return rows


def test_backtest_finds_the_burst_and_only_it(db_engine, registry):
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=5)
    _history(db_engine, "BT-P1", start)
    with db_engine.connect() as conn:
        rows, episodes = replay(conn, sensor_id="BT-P1", start=start, end=start + timedelta(hours=4))
    assert len(rows) == 185
    assert episodes, "the pressure drop was not found"
    burst = episodes[-1]
    assert burst.start == start + timedelta(minutes=180) and burst.level >= Level.ORANGE
    assert "0.12" in burst.explanation
    early = [e for e in episodes if e.start < start + timedelta(minutes=180)]
    assert not early, f"false episodes on clean history: {early}"
    out = ROOT / ".local" / "bt-test.csv"
    cmd = [
        sys.executable,
        "-m",
        "resilience.cli",
        "backtest",
        "--sensor",
        "BT-P1",
        "--start",
        start.isoformat(),
        "--end",
        (start + timedelta(hours=4)).isoformat(),
        "-o",
        str(out),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1].startswith("readings=185 ")
    with open(out) as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 185 and table[-1]["anomaly"] == "1" and table[0]["anomaly"] == "0"


def test_anomalies_api_lists_and_filters(db_engine, api_client, registry):
    t0 = datetime.now(UTC) - timedelta(minutes=10)
    open_ev = AnomalyEvent(
        "an-1",
        AnomalyPhase.OPEN,
        "CH4-1",
        "A-CULVERT",
        "methane",
        "threshold",
        t0,
        t0,
        0.9,
        0.9,
        22.0,
        Level.ORANGE,
        "methane 22 %LEL reached orange limit 20 %LEL",
    )
    closed = [
        AnomalyEvent(
            "an-2",
            AnomalyPhase.OPEN,
            "P-1",
            "A-MAIN",
            "water_pressure",
            "robust_z",
            t0,
            t0,
            0.7,
            0.7,
            0.2,
            Level.NONE,
            "pressure low",
        ),
        AnomalyEvent(
            "an-2",
            AnomalyPhase.CLOSE,
            "P-1",
            "A-MAIN",
            "water_pressure",
            "robust_z",
            t0,
            t0 + timedelta(minutes=3),
            0.1,
            0.7,
            0.3,
            Level.NONE,
            "pressure low",
            end=t0 + timedelta(minutes=3),
        ),
    ]
    with db_engine.begin() as conn:
        persist_events(conn, PgEventLog(db_engine), [open_ev, *closed])
    body = api_client.get("/api/v1/anomalies", params={"asset_id": "A-CULVERT"}).json()
    assert [a["id"] for a in body["data"]] == ["an-1"] and body["data"][0]["level"] == "orange"
    assert body["data"][0]["open"] is True
    closed_rows = api_client.get("/api/v1/anomalies", params={"open": "false", "sensor_id": "P-1"}).json()["data"]
    assert [a["id"] for a in closed_rows] == ["an-2"] and closed_rows[0]["end"] is not None
    assert api_client.get("/api/v1/anomalies", params={"min_level": "orange", "sensor_id": "P-1"}).json()["count"] == 0
    assert api_client.get("/api/v1/anomalies/an-2").json()["peak_score"] == 0.7
    assert api_client.get("/api/v1/anomalies/nope").status_code == 404
    with db_engine.connect() as conn:
        kinds = (
            conn.execute(
                text(
                    "SELECT payload->>'anomaly_id' FROM events WHERE kind = 'anomaly' "
                    "AND payload->>'anomaly_id' IN ('an-1', 'an-2') ORDER BY id"
                )
            )
            .scalars()
            .all()
        )
    assert kinds == ["an-1", "an-2", "an-2"]  # every phase reached the event log too
