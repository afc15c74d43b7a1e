"""Per-asset state monitors: rows from readings, one held anomaly per fault state, JSON state, model switches."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from resilience.detection.asset_state import (
    MAX_FILL,
    AssetStateMonitor,
    RowBuilder,
    StateModelScorer,
    dump_state_model,
    load_state_model,
    model_version,
    new_state_model,
)
from resilience.core.domain import Reading
from resilience.core.events import AnomalyPhase
from resilience.store.state_models import StoredStateModel

from .helpers import flow_pressure_rows

T0 = datetime(2024, 6, 1, tzinfo=UTC)
IDS = ["flow", "pressure"]


def _monitor(seed: int = 1) -> AssetStateMonitor:
    model = new_state_model(2).fit(flow_pressure_rows(2880, seed))
    stored = StoredStateModel("MAIN-1", model_version(model), T0, T0, T0, 2880, IDS, dump_state_model(model))
    return AssetStateMonitor(
        stored, load_state_model(stored.blob), {"flow": "water_flow", "pressure": "water_pressure"}
    )


def _stream(fault: slice) -> list[Reading]:
    X = flow_pressure_rows(600, 7)
    X[fault, 0] *= 1.8  # burst: far more flow and the pressure collapses
    X[fault, 1] = 0.1
    return [
        Reading(s, T0 + timedelta(minutes=i, seconds=10 * j), float(X[i, j]))
        for i in range(len(X))
        for j, s in enumerate(IDS)
    ]


def test_row_builder_means_holds_short_gaps_and_ignores_late_readings() -> None:
    b = RowBuilder(IDS)
    assert b.add("flow", T0, 10.0) == [] and b.add("flow", T0 + timedelta(seconds=30), 20.0) == []
    assert b.add("pressure", T0 + timedelta(seconds=40), 0.3) == []
    rows = b.add("flow", T0 + timedelta(minutes=1), 12.0)
    assert [(ts, list(r)) for ts, r in rows] == [(T0 + timedelta(minutes=1), [15.0, 0.3])]
    assert b.add("flow", T0 + timedelta(seconds=59), 99.0) == []  # its minute is done: too late
    rows = b.add("flow", T0 + timedelta(minutes=3), 14.0)  # pressure silent: its last value stands in
    assert [list(r) for _, r in rows] == [[12.0, 0.3], [12.0, 0.3]]
    # pressure last reported in minute 0: held for MAX_FILL minutes (rows of minutes 3..5), then no rows
    assert MAX_FILL == 5
    rows = b.add("flow", T0 + timedelta(minutes=12), 1.0)
    assert [(ts, list(r)) for ts, r in rows] == [(T0 + timedelta(minutes=m), [14.0, 0.3]) for m in (4, 5, 6)]
    assert b.add("flow", T0 + timedelta(minutes=13), 1.0) == []
    assert b.add("pressure", T0 + timedelta(minutes=13, seconds=5), 0.2) == []
    assert [list(r) for _, r in b.add("flow", T0 + timedelta(minutes=14), 2.0)] == [[1.0, 0.2]]


def test_one_anomaly_opens_holds_names_sensors_and_closes() -> None:
    monitor = _monitor()
    events = [e for r in _stream(slice(300, 420)) for e in monitor.observe(r)]
    phases = [e.phase for e in events]
    assert phases.count(AnomalyPhase.OPEN) == 1 and phases.count(AnomalyPhase.CLOSE) == 1
    opened, closed = events[0], events[-1]
    assert opened.phase is AnomalyPhase.OPEN and closed.phase is AnomalyPhase.CLOSE
    assert len({e.anomaly_id for e in events}) == 1 and {e.sensor_id for e in events} == {opened.sensor_id}
    assert T0 + timedelta(minutes=300) <= opened.start <= T0 + timedelta(minutes=304)
    assert T0 + timedelta(minutes=420) <= closed.end <= T0 + timedelta(minutes=445)
    assert opened.detector == monitor.detector and "left normal" in opened.explanation
    assert "pressure" in opened.explanation


def test_state_through_json_scores_on_exactly_as_before() -> None:
    readings = _stream(slice(300, 420))
    a, b = _monitor(), _monitor()
    for r in readings[:700]:  # mid-fault
        a.observe(r)
        b.observe(r)
    b.load_state(json.loads(json.dumps(a.to_state())))
    rest_a = [e for r in readings[700:] for e in a.observe(r)]
    rest_b = [e for r in readings[700:] for e in b.observe(r)]
    assert rest_a == rest_b and any(e.phase is AnomalyPhase.CLOSE for e in rest_a)
    other = _monitor(seed=2)
    with pytest.raises(ValueError, match="state of model"):
        other.load_state(a.to_state())


def test_a_new_version_takes_over_an_open_anomaly_without_reopening() -> None:
    readings = _stream(slice(300, 420))
    scorer = StateModelScorer({"MAIN-1": _monitor()})
    first = scorer.observe(readings[:700])
    assert [e.phase for e in first].count(AnomalyPhase.OPEN) == 1
    switched = scorer.switched({"MAIN-1": _monitor(seed=2)})
    assert switched.versions() != scorer.versions() and scorer.monitors["MAIN-1"].open is not None
    rest = switched.observe(readings[700:])
    assert AnomalyPhase.OPEN not in [e.phase for e in rest]
    assert [e.phase for e in rest][-1] is AnomalyPhase.CLOSE and rest[-1].anomaly_id == first[0].anomaly_id
