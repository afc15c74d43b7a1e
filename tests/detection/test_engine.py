"""The engine opens, updates and closes anomalies, publishes them, and survives snapshot/restore."""

from __future__ import annotations

import json
from datetime import timedelta
from itertools import count

import numpy as np

from resilience.detection import DetectionEngine, resolve_config
from resilience.core.domain import Level, Reading
from resilience.core.events import AnomalyPhase, EventKind, InMemoryEventBus, SensorHealthEvent

from .helpers import T0, Sensor, seasonal_series


def _engine(catalogue, **kw):
    bus = InMemoryEventBus()
    ids = count(1)
    return DetectionEngine(catalogue, bus, new_id=lambda: f"a{next(ids)}", **kw), bus


def _methane(values, start=T0):
    return [Reading("ch4", start + timedelta(minutes=i), v) for i, v in enumerate(values)]


def test_methane_orange_opens_immediately_and_closes():
    eng, bus = _engine({"ch4": Sensor("ch4", "well-7", "methane")})
    received = []
    bus.subscribe(EventKind.ANOMALY, received.append)
    events = eng.process(_methane([22.0]))
    assert len(events) == 1
    ev = events[0]
    assert ev.phase is AnomalyPhase.OPEN and ev.level is Level.ORANGE and ev.sensor_id == "ch4"
    assert ev.asset_id == "well-7" and ev.anomaly_id == "a1"
    assert ev.explanation == "methane 22 %LEL reached orange limit 20 %LEL"
    assert received == events and bus.published == events
    # rising to red is an update; staying the same is not
    later = eng.process(_methane([23.0, 55.0, 54.0], start=T0 + timedelta(minutes=1)))
    assert [e.phase for e in later] == [AnomalyPhase.UPDATE]
    assert later[0].level is Level.RED and later[0].peak_score == 1.0
    closing = eng.process(_methane([1.0, 1.2, 0.9, 1.1], start=T0 + timedelta(minutes=4)))
    assert [e.phase for e in closing] == [AnomalyPhase.CLOSE]
    close = closing[0]
    assert close.anomaly_id == "a1" and close.end == T0 + timedelta(minutes=4) and close.start == T0
    assert close.level is Level.RED and not eng.open


def test_quiet_sensor_produces_no_events_and_unknown_sensor_is_ignored():
    rng = np.random.default_rng(0)
    eng, bus = _engine({"ch4": Sensor("ch4", "well-7", "methane")})
    assert eng.process(_methane(list(1 + rng.normal(0, 0.2, 500)))) == []
    assert eng.process([Reading("nope", T0, 99.0)]) == [] and eng.unknown_readings == 1
    assert bus.published == []


def test_per_sensor_threshold_override():
    cat = {"ch4": Sensor("ch4", "well-7", "methane", thresholds={"blue": 2.0, "orange": 8.0})}
    eng, _ = _engine(cat)
    ev = eng.process(_methane([9.0]))[0]
    assert ev.level is Level.ORANGE and "orange limit 8 %LEL" in ev.explanation


def test_seasonal_pressure_drop_explained():
    ts, values = seasonal_series(144 * 15, step_s=600, seed=5)
    cat = {"p1": Sensor("p1", "main-3", "water_pressure", expected_interval_s=600)}
    eng, _ = _engine(cat)
    assert eng.process([Reading("p1", t, float(v)) for t, v in zip(ts, values)]) == []
    t = ts[-1] + timedelta(minutes=10)
    usual = eng.ensemble("p1").members[1][2].usual(t)
    ev = eng.process([Reading("p1", t, usual * 0.75)])
    assert len(ev) == 1 and ev[0].phase is AnomalyPhase.OPEN
    assert "below this hour's usual" in ev[0].explanation and ev[0].explanation.startswith("pressure ")


def test_snapshot_restore_identical_scores():
    cat = {"p1": Sensor("p1", "main-3", "water_pressure"), "s1": Sensor("s1", "bridge-1", "strain")}
    ts, values = seasonal_series(2000, step_s=60, seed=2)
    rng = np.random.default_rng(1)
    strain = 100 + rng.normal(0, 2, 2000)
    strain[1500] = 160.0
    readings = [
        r for i, t in enumerate(ts) for r in (Reading("p1", t, float(values[i])), Reading("s1", t, float(strain[i])))
    ]
    a, _ = _engine(cat)
    a.process(readings[:2000])
    snap = json.loads(json.dumps(a.snapshot()))
    b, _ = _engine(cat)
    b.restore(snap)
    for r in readings[2000:]:
        ra = a.ensemble(r.sensor_id).process_one(r.value, r.ts)
        rb = b.ensemble(r.sensor_id).process_one(r.value, r.ts)
        assert ra == rb


def test_stuck_sensor_health_event():
    cat = {"s1": Sensor("s1", "bridge-1", "strain")}
    eng, bus = _engine(cat, overrides={"s1": {"flatline": {"min_run": 5}}})
    eng.process([Reading("s1", T0 + timedelta(seconds=i), 100.0 + (i % 3)) for i in range(50)])
    eng.process([Reading("s1", T0 + timedelta(seconds=50 + i), 101.0) for i in range(10)])
    health = [e for e in bus.published if isinstance(e, SensorHealthEvent)]
    assert [h.status for h in health] == ["stuck"] and "stuck at 101" in health[0].explanation


def test_recovery_from_a_stuck_run_is_not_an_anomaly():
    """A flow meter frozen at 600 m3/h while demand rose to 700: the first real reading after the repair
    must not be compared with the frozen value (the rate window forgets the run), and nothing frozen is
    learned. Without that, the 100 m3/h jump reads as a burst on the main."""
    cat = {"q": Sensor("q", "main-1", "water_flow")}
    eng, bus = _engine(cat)
    rng = np.random.default_rng(3)
    minute = [T0 + timedelta(minutes=i) for i in range(400)]
    live = [Reading("q", minute[i], 600.0 + rng.normal(0, 4.0)) for i in range(240)]
    frozen = [Reading("q", minute[i], 601.5) for i in range(240, 300)]
    after = [Reading("q", minute[i], 700.0 + rng.normal(0, 4.0)) for i in range(300, 400)]
    eng.process(live)
    assert not [e for e in bus.published if e.kind is EventKind.ANOMALY]
    eng.process(frozen)
    assert [e.status for e in bus.published if isinstance(e, SensorHealthEvent)] == ["stuck"]
    eng.process(after)
    assert [e.status for e in bus.published if isinstance(e, SensorHealthEvent)] == ["stuck", "ok"]
    assert not [e for e in bus.published if e.kind is EventKind.ANOMALY], "the repair read as an anomaly"


def test_resolve_config_overrides():
    cfg = resolve_config(
        "strain",
        override={
            "threshold": 0.7,
            "detectors": {"robust_z": {"window": 30}, "cusum": None},
            "weights": {"robust_z": 0.5},
        },
    )
    names = {d.name: d for d in cfg.detectors}
    assert cfg.threshold == 0.7 and "cusum" not in names
    assert names["robust_z"].params["window"] == 30 and names["robust_z"].weight == 0.5


def test_engine_scores_a_long_stream_of_two_kinds_with_every_sensor_known():
    """How fast is ``resilience bench detect`` (us_per_reading=); here: every reading reaches its ensemble."""
    cat = {"p1": Sensor("p1", "m", "water_pressure"), "ch4": Sensor("ch4", "w", "methane")}
    ts, values = seasonal_series(10000, step_s=60, seed=3)
    readings = [Reading("p1" if i % 2 else "ch4", t, float(v)) for i, (t, v) in enumerate(zip(ts, values))]
    eng, bus = _engine(cat)
    events = eng.process(readings)
    assert eng.unknown_readings == 0 and set(eng.ensembles) == {"p1", "ch4"}
    assert [e for e in bus.published if e.kind is EventKind.ANOMALY] == events  # each event published once
