"""Issue 22: one protocol for every number. ``resilience detect`` on a CSV (its default, production model) and the
real detector worker consuming the same readings through the durable hand-off, against real PostgreSQL, store the
same alarm spans: the same sensors, detectors (model versions included), starts and ends."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, text

from resilience.cli.main import main
from resilience.core.domain import Reading
from resilience.core.settings import Settings, get_settings
from resilience.detection.state_training import fit_asset_state_model
from resilience.store import handoff
from resilience.store.db import make_engine
from resilience.store.readings import insert_new_readings, write_readings
from resilience.store.timeseries import get_backend
from resilience.workers.detector_worker import DetectionWorker
from tests.conftest import fresh_database
from tests.detection.helpers import flow_pressure_rows
from tests.registry import register_sensors

T0 = datetime(2024, 9, 2, tzinfo=UTC)
TRAIN_ROWS = 2 * 1440
FLOW, PRESSURE = "PROTO-FLOW", "PROTO-PRES"
ASSET = "MAIN-PROTO"
BURST = slice(TRAIN_ROWS + 600, TRAIN_ROWS + 800)  # a burst in the third day: flow up, pressure collapses


@pytest.fixture(scope="module")
def engine(services: Settings) -> Iterator[Engine]:
    with fresh_database(services, "protocol") as url:
        eng = make_engine(url)
        yield eng
        eng.dispose()


def _rows() -> tuple[list[datetime], np.ndarray]:
    X = flow_pressure_rows(TRAIN_ROWS + 1440, 7)
    X[BURST, 0] *= 1.8
    X[BURST, 1] = 0.1
    return [T0 + timedelta(minutes=i, seconds=10) for i in range(len(X))], X


def _readings(times: list[datetime], X: np.ndarray) -> list[Reading]:
    return [
        Reading(s, ts, float(row[j])) for ts, row in zip(times, X, strict=True) for j, s in enumerate((FLOW, PRESSURE))
    ]


def _write_csv(path: Path, times: list[datetime], X: np.ndarray) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", FLOW, PRESSURE])
        for ts, row in zip(times, X, strict=True):
            w.writerow([ts.isoformat(), repr(float(row[0])), repr(float(row[1]))])


def _live_spans(
    engine: Engine, times: list[datetime], X: np.ndarray
) -> list[tuple[str, str, datetime, datetime | None]]:
    """Fit as the nightly refit does on the stored history, then stream the third day through the worker."""
    with engine.begin() as conn:
        for sid, kind, unit in ((FLOW, "water_flow", "m3/h"), (PRESSURE, "water_pressure", "MPa")):
            register_sensors(
                conn, utility="U-PROTO", asset=ASSET, asset_kind="water_main", sensor_kind=kind, unit=unit,
                sensor_ids=[sid], interval_s=60,
            )  # fmt: skip
        write_readings(conn, _readings(times[:TRAIN_ROWS], X[:TRAIN_ROWS]), get_backend(conn))
    assert fit_asset_state_model(engine, ASSET, [FLOW, PRESSURE], T0, times[TRAIN_ROWS - 1] + timedelta(minutes=1))
    settings = get_settings()
    worker = DetectionWorker(engine, settings)
    day = _readings(times[TRAIN_ROWS:], X[TRAIN_ROWS:])
    for i in range(0, len(day), 120):  # one hand-off batch per hour of readings
        with engine.begin() as conn:
            stored = insert_new_readings(conn, day[i : i + 120], get_backend(conn))
            handoff.hand_off(conn, stored, transport="http", shards=settings.detection_shards)
        while sum(worker.consume_once(s) for s in worker.shards):
            pass
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                'SELECT sensor_id, detector, start, "end" FROM anomalies WHERE asset_id = :a ORDER BY start, sensor_id'
            ),
            {"a": ASSET},
        )
        return [(r.sensor_id, r.detector, r.start, r.end) for r in rows]


def test_csv_backtest_and_live_detector_give_the_same_alarm_spans(engine: Engine, tmp_path: Path) -> None:
    times, X = _rows()
    live = _live_spans(engine, times, X)
    _write_csv(tmp_path / "train.csv", times[:TRAIN_ROWS], X[:TRAIN_ROWS])
    _write_csv(tmp_path / "day.csv", times[TRAIN_ROWS:], X[TRAIN_ROWS:])
    argv = [
        "detect",
        str(tmp_path / "day.csv"),
        "-o",
        str(tmp_path / "out.csv"),
        "--train",
        str(tmp_path / "train.csv"),
    ]
    argv += [
        "--kind",
        f"{FLOW}=water_flow",
        "--kind",
        f"{PRESSURE}=water_pressure",
        "--alarms",
        str(tmp_path / "a.csv"),
    ]
    assert main(argv) == 0
    with (tmp_path / "a.csv").open() as fh:
        backtest = [
            (r["sensor_id"], r["detector"], datetime.fromisoformat(r["start"]), datetime.fromisoformat(r["end"]) if r["end"] else None)
            for r in csv.DictReader(fh)
        ]  # fmt: skip
    # the burst is caught by the state model, held while it lasts and closed after it, on both paths alike
    state = [s for s in live if s[1].startswith("state_model:") and s[2] >= times[BURST.start]]
    assert len(state) == 1 and times[BURST.start] <= state[0][2] <= times[BURST.start] + timedelta(minutes=5)
    assert state[0][3] is not None and state[0][3] >= times[BURST.stop - 1]
    assert backtest == live
    flags = [r["anomaly"] == "1" for r in csv.DictReader((tmp_path / "out.csv").open())]
    assert flags[BURST.start - TRAIN_ROWS + 5] and not flags[-1]
