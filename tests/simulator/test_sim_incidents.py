"""Each injected incident leaves its signature in the published readings; ground truth is well-formed."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from resilience.core.domain import AssetKind, Hazard
from resilience.simulator.city import City, build_city, distance_m
from resilience.simulator.simulation import Simulator
from resilience.simulator.incidents import INCIDENT_TYPES, Incident, write_ground_truth

START = datetime(2024, 7, 1, tzinfo=UTC)
SEED = int(os.environ.get("SIM_TEST_SEED", "31"))


@pytest.fixture(scope="module")
def city() -> City:
    return build_city(seed=SEED, n_sensors=500)


@pytest.fixture(scope="module")
def day(city: City) -> tuple[Simulator, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Default incident schedule, 24 h stepped every 60 s; series per sensor id."""
    sim = Simulator(city, START, seed=SEED)
    acc: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for _, batch in sim.run(START + timedelta(hours=24), timedelta(seconds=60)):
        for i, t, v in zip(batch.idx.tolist(), batch.t.tolist(), batch.v.tolist()):
            acc[sim.sensor_ids[i]].append((t, v))
    series = {k: (np.array([t for t, _ in pts]), np.array([v for _, v in pts])) for k, pts in acc.items()}
    return sim, series


def _clean(sim: Simulator) -> Simulator:
    """The counterfactual: same city, seed and incident-driven weather, but no incident effects."""
    return Simulator(sim.city, START, seed=SEED, incidents=[replace(i, effects=[]) for i in sim.incidents])


def _of(sim: Simulator, typ: str) -> list[Incident]:
    found = [i for i in sim.incidents if i.type == typ]
    assert found, typ
    return found


def _window(series, sid: str, t0: float, t1: float) -> np.ndarray:
    t, v = series[sid]
    return v[(t >= t0) & (t < t1)]


@pytest.mark.slow  # a simulated day of 500 sensors
def test_default_schedule_has_every_type_within_the_day(day) -> None:
    sim, _ = day
    assert {i.type for i in sim.incidents} == set(INCIDENT_TYPES)
    for i in sim.incidents:
        assert START <= i.start < i.end <= START + timedelta(hours=24)
    assert len({i.asset_id for i in sim.incidents}) == len(sim.incidents)


@pytest.mark.slow  # a simulated day of 500 sensors
def test_gas_leak_crosses_orange_within_minutes(city: City, day) -> None:
    sim, series = day
    for inc in _of(sim, "gas_leak"):
        asset = city.asset(inc.asset_id)
        assert asset.kind in (AssetKind.DRAINAGE_CULVERT, AssetKind.UTILITY_TUNNEL)
        gas = city.asset(asset.attributes["near_gas_pipeline"])
        assert distance_m(asset.lat, asset.lon, gas.lat, gas.lon) <= 50
        (sid,) = inc.sensor_ids
        s0, s1 = inc.start.timestamp(), inc.end.timestamp()
        assert _window(series, sid, s0 - 3600, s0).max() < 5
        t, v = series[sid]
        first = t[(t >= s0) & (v >= 20)][0]
        assert first - s0 <= 15 * 60
        assert _window(series, sid, s0 + 1800, s1).min() >= 20  # persistent while leaking
        assert _window(series, sid, s1 + 3600, s1 + 7200).max() < 5  # ventilated after isolation


@pytest.mark.slow  # a simulated day of 500 sensors
def test_night_burst_drops_pressure_and_steps_flow(city: City, day) -> None:
    sim, series = day
    for inc in _of(sim, "water_main_burst"):
        local_hour = (inc.start + timedelta(hours=city.utc_offset_h)).hour
        assert 0 <= local_hour < 5
        p = city.sensors_of(inc.asset_id, "water_pressure")[0].id
        q = city.sensors_of(inc.asset_id, "water_flow")[0].id
        s0, s1 = inc.start.timestamp(), inc.end.timestamp()
        assert _window(series, p, s0 - 1800, s0).min() > 0.20
        assert _window(series, p, s0 + 300, s1).max() < 0.14
        t, v = series[q]
        m = (t >= s0 + 600) & (t < s1)
        ratio = v[m] / _clean(sim).values_at([q] * int(m.sum()), t[m])
        assert 1.5 < ratio.mean() < 2.6  # +60..150 % step over what the main would have carried


@pytest.mark.slow  # a simulated day of 500 sensors
def test_blocked_drain_surcharges_while_downstream_falls(city: City, day) -> None:
    sim, series = day
    for inc in _of(sim, "blocked_drain"):
        blocked, downstream = inc.sensor_ids
        assert (
            city.asset(city.sensors[sim.sensor_index(downstream)].asset_id).attributes["downstream_of"] == inc.asset_id
        )
        s0, s1 = inc.start.timestamp(), inc.end.timestamp()
        assert _window(series, blocked, s0 - 3600, s0).max() < 70
        assert _window(series, blocked, s0, s1).max() > 100
        t, v = series[downstream]
        m = (t >= s1 - 1800) & (t < s1)
        counterfactual = _clean(sim).values_at([downstream] * int(m.sum()), t[m])
        assert v[m].mean() < 0.3 * counterfactual.mean()
        assert v[m].mean() < _window(series, downstream, s0 - 1800, s0).mean()


@pytest.mark.slow  # a simulated day of 500 sensors
def test_bearing_fault_offsets(city: City, day) -> None:
    sim, series = day
    for inc in _of(sim, "bearing_fault"):
        bearing = city.sensors_of(inc.asset_id, "bearing_displacement")[0].id
        assert bearing in inc.sensor_ids
        s0 = inc.start.timestamp()
        jump = _window(series, bearing, s0 + 60, s0 + 600).mean() - _window(series, bearing, s0 - 600, s0).mean()
        assert jump > 4.0
        for strain in city.sensors_of(inc.asset_id, "strain"):
            assert strain.id in inc.sensor_ids


@pytest.mark.slow  # a simulated day of 500 sensors
def test_stuck_sensor_is_constant(day) -> None:
    sim, series = day
    for inc in _of(sim, "stuck_sensor"):
        (sid,) = inc.sensor_ids
        s0, s1 = inc.start.timestamp(), inc.end.timestamp()
        during = _window(series, sid, s0, s1)
        assert during.size >= 5 and np.ptp(during) == 0.0
        assert np.ptp(_window(series, sid, s0 - 3600, s0)) > 0.0


@pytest.mark.slow  # a simulated day of 500 sensors
def test_silent_sensor_emits_nothing(day) -> None:
    sim, series = day
    for inc in _of(sim, "silent_sensor"):
        (sid,) = inc.sensor_ids
        s0, s1 = inc.start.timestamp(), inc.end.timestamp()
        assert _window(series, sid, s0, s1).size == 0
        assert _window(series, sid, s0 - 3600, s0).size > 0
        assert _window(series, sid, s1, s1 + 3600).size > 0


def test_step_returns_readings_with_utc_times(city: City) -> None:
    sim = Simulator(city, START, seed=SEED, incidents="none")
    readings = sim.step(START + timedelta(minutes=5))
    assert readings and all(r.ts.tzinfo is not None and START <= r.ts <= START + timedelta(minutes=5) for r in readings)
    assert [r.ts for r in readings] == sorted(r.ts for r in readings)
    assert sim.step(START + timedelta(minutes=5)) == []  # nothing is emitted twice


@pytest.mark.slow  # a simulated day of 500 sensors
def test_ground_truth_json_is_well_formed(city: City, day, tmp_path: Path) -> None:
    sim, _ = day
    path = tmp_path / "truth.json"
    write_ground_truth(path, sim.incidents)
    data = json.loads(path.read_text())
    assert data == sim.ground_truth() and len(data) == len(sim.incidents)
    sensor_asset = {s.id: s.asset_id for s in city.sensors}
    for rec in data:
        keys = {"incident_id", "type", "hazard", "asset_id", "sensor_ids", "district_id", "start", "end", "settle_s"}
        assert set(rec) == keys
        assert rec["settle_s"] >= 0 and (rec["settle_s"] == 0) == (rec["type"] in ("stuck_sensor", "silent_sensor"))
        assert Hazard(rec["hazard"])
        start = datetime.fromisoformat(rec["start"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(rec["end"].replace("Z", "+00:00"))
        assert start.utcoffset() == timedelta(0) and start < end
        assert city.asset(rec["asset_id"]).district_id == rec["district_id"]
        assert rec["sensor_ids"] and all(s in sensor_asset for s in rec["sensor_ids"])
        assert sensor_asset[rec["sensor_ids"][0]] == rec["asset_id"]
    assert len({r["incident_id"] for r in data}) == len(data)
