"""Closing as well as opening (issue 22): the production state model's held state ends when the fault ends, its
false-alarm budget holds on normal data it never saw, and a training window that is itself abnormal is refused
with a reason (by the model, and by the nightly fit, which then stores nothing)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import Engine, text

from resilience.detection.asset_state import FALSE_ALARM_RATE, new_state_model
from resilience.detection.state_models import CanonicalVariateStateModel, ContaminatedWindowError
from resilience.detection.state_training import fit_asset_state_model
from resilience.core.domain import Reading
from resilience.store.readings import write_readings
from resilience.store.timeseries import get_backend
from tests.registry import register_sensors

from .helpers import correlated_process, flow_pressure_rows

ONSET, END = 500, 900
T0 = datetime(2024, 9, 2, tzinfo=UTC)


@pytest.fixture(scope="module")
def model() -> CanonicalVariateStateModel:
    """What production fits for a six-sensor asset, on normal rows only."""
    return new_state_model(6).fit(correlated_process(3000, 0))


def _fault(X: np.ndarray, rows: slice) -> np.ndarray:
    """A sensor bias that breaks the sensors' joint relation (a drifting gauge, a valve that stuck)."""
    X = X.copy()
    X[rows, 2] += 1.2
    return X


def test_held_state_opens_during_the_fault_and_closes_after_it(model: CanonicalVariateStateModel) -> None:
    X = _fault(correlated_process(1500, 21), slice(ONSET, END))
    model.reset_stream()
    flags = []
    for x in X:
        model.score_one(x)
        flags.append(model.alarm_active)
    on = np.array(flags)
    assert not on[:ONSET].any()
    assert ONSET <= ONSET + int(np.argmax(on[ONSET:])) < ONSET + 20  # opens within minutes of the onset
    assert on[ONSET:END].mean() >= 0.95  # and holds through the fault
    assert not on[END + 30 :].any()  # released once back inside the normal region for the dwell
    assert not model.alarm_active


def test_false_alarm_budget_holds_on_unseen_normal_runs(model: CanonicalVariateStateModel) -> None:
    """Limits come from the training window alone; fresh runs stay near the budget (a few times it at most)."""
    rates = [float(model.predict(correlated_process(3000, seed)).mean()) for seed in (31, 32, 33, 34, 35)]
    assert float(np.mean(rates)) <= 5 * FALSE_ALARM_RATE
    assert model.tail_ == pytest.approx(FALSE_ALARM_RATE / len(model.statistics))


@pytest.mark.parametrize("rows", [slice(0, 900), slice(600, None)], ids=["fault-first", "fault-last"])
def test_a_window_that_is_mostly_a_fault_is_refused_with_a_reason(rows: slice) -> None:
    window = _fault(correlated_process(1500, 41), rows)  # 60 % of the window is the fault state
    with pytest.raises(ContaminatedWindowError, match="not one normal state") as info:
        new_state_model(6).fit(window)
    assert max(info.value.shares) > 0.5


def test_a_normal_window_passes_the_screen_and_the_screen_can_be_skipped() -> None:
    fitted = new_state_model(6).fit(correlated_process(1500, 51))
    assert fitted.window_shares_ is not None and max(fitted.window_shares_) < 0.1
    window = _fault(correlated_process(1500, 41), slice(0, 900))
    assert new_state_model(6).fit(window, screen_window=False).window_shares_ is None


def _readings(ids: list[str], fault: slice) -> list[Reading]:
    """Two days of one-minute flow/pressure rows, the burst state on ``fault`` (flow up, pressure down)."""
    X = flow_pressure_rows(2880, 5)
    X[fault, 0] *= 1.8
    X[fault, 1] = 0.1
    return [
        Reading(s, T0 + timedelta(minutes=i, seconds=10 * j), float(X[i, j]))
        for i in range(len(X))
        for j, s in enumerate(ids)
    ]


def test_nightly_fit_refuses_an_unrecorded_fault_and_fits_once_it_is_known(
    db_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    ids = ["CLOSE-FLOW", "CLOSE-PRES"]
    fault = slice(0, 1700)  # the first 60 % of the history is a burst nobody recorded
    with db_engine.begin() as conn:
        register_sensors(
            conn,
            utility="U-CLOSE",
            asset="MAIN-CLOSE",
            asset_kind="water_main",
            sensor_kind="water_flow",
            unit="m3/h",
            sensor_ids=ids,
            interval_s=60,
        )
        write_readings(conn, _readings(ids, fault), get_backend(conn))
    end = T0 + timedelta(days=2)
    with caplog.at_level(logging.WARNING, logger="resilience.detection.state_training"):
        assert fit_asset_state_model(db_engine, "MAIN-CLOSE", ids, T0, end) is None
    assert "not one normal state" in caplog.text
    with db_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM state_models WHERE asset_id = 'MAIN-CLOSE'")).scalar() == 0
    with db_engine.begin() as conn:  # an engineer records the burst: training leaves it out
        conn.execute(
            text(
                'INSERT INTO anomalies (id, sensor_id, asset_id, sensor_kind, detector, start, "end", last_ts, '
                "peak_score) VALUES ('close-burst', :s, 'MAIN-CLOSE', 'water_flow', 'manual', :a, :b, :b, 0.9)"
            ),
            {"s": ids[0], "a": T0, "b": T0 + timedelta(minutes=1700)},
        )
    assert fit_asset_state_model(db_engine, "MAIN-CLOSE", ids, T0, end, min_rows=720) is not None
