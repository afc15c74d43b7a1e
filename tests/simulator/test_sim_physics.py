"""Clean operation: plausible, deterministic, on schedule, and below every blue threshold."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from resilience.core.domain import SENSOR_KINDS, Level, level_for_value
from resilience.simulator.city import City, build_city
from resilience.simulator.simulation import Simulator
from resilience.simulator.physics import MAX_NORMAL_RAIN, Physics, demand

START = datetime(2024, 7, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def city() -> City:
    return build_city(seed=21, n_sensors=500)


@pytest.fixture(scope="module")
def clean_day(city: City) -> dict[str, list[tuple[float, float]]]:
    """sensor_id -> [(t, v)] for a clean 24 h run stepped every 60 s."""
    sim = Simulator(city, START, seed=21, incidents="none")
    series: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for _, batch in sim.run(START + timedelta(hours=24), timedelta(seconds=60)):
        for i, t, v in zip(batch.idx.tolist(), batch.t.tolist(), batch.v.tolist()):
            series[sim.sensor_ids[i]].append((t, v))
    return series


@pytest.mark.slow  # a simulated day of 500 sensors
def test_clean_day_stays_below_blue_for_every_thresholded_kind(city: City, clean_day) -> None:
    kinds = {s.id: s.kind for s in city.sensors}
    checked = set()
    for sid, pts in clean_day.items():
        spec = SENSOR_KINDS[kinds[sid]]
        if not spec.thresholds:
            continue
        checked.add(spec.name)
        worst = max(level_for_value(v, spec.thresholds, spec.direction) for _, v in pts)
        assert worst is Level.NONE, (sid, spec.name, [v for _, v in pts][:5])
    assert checked == {k for k, s in SENSOR_KINDS.items() if s.thresholds}


@pytest.mark.slow  # a simulated day of 500 sensors
def test_every_sensor_reports_on_its_interval(city: City, clean_day) -> None:
    """The periodic schedule holds; on a clean day exception reports (``devices``) add almost nothing."""
    assert set(clean_day) == {s.id for s in city.sensors}
    extra = 0
    for s in city.sensors:
        ts = np.array([t for t, _ in clean_day[s.id]])
        assert np.all(np.diff(ts) > 0)
        iv = s.expected_interval_s
        phase = np.round((ts - START.timestamp()) % iv, 6)
        on_schedule = ts[phase == np.bincount(np.round(phase).astype(int)).argmax()] if iv > 1 else ts
        assert len(on_schedule) == pytest.approx(86_400 / iv, abs=1), s
        assert np.allclose(np.diff(on_schedule), iv)
        extra += len(ts) - len(on_schedule)
    total = sum(len(v) for v in clean_day.values())
    assert extra / total < 0.01, f"{extra} exception reports out of {total} on a clean day"


@pytest.mark.slow  # a simulated day of 500 sensors
def test_water_pressure_typical_and_inverse_to_demand(city: City, clean_day) -> None:
    main = next(
        a for a in city.assets if city.sensors_of(a.id, "water_pressure") and city.sensors_of(a.id, "water_flow")
    )
    p = np.array([v for _, v in clean_day[city.sensors_of(main.id, "water_pressure")[0].id]])
    q = np.array([v for _, v in clean_day[city.sensors_of(main.id, "water_flow")[0].id]])
    assert 0.20 < p.min() and p.max() < 0.50
    assert np.corrcoef(p, q)[0, 1] < -0.9
    assert q.max() / q.min() > 2.5  # 0.4 at night vs 1.4 in the morning


def test_demand_multipliers() -> None:
    h = np.array([3.5, 7.5, 19.5])
    assert np.allclose(demand(h), [0.4, 1.4, 1.3])
    assert demand(np.linspace(0, 24, 24 * 60, endpoint=False)).mean() == pytest.approx(1.0, abs=0.01)


@pytest.mark.slow  # a simulated day of 500 sensors
def test_quiet_channels(city: City, clean_day) -> None:
    for s in city.sensors:
        v = np.array([x for _, x in clean_day[s.id]])
        if s.kind == "methane":
            assert 0.0 <= v.min() and v.max() <= 1.0
        elif s.kind in ("tilt", "crack_width", "settlement"):
            assert v.std() < 0.1


@pytest.mark.slow  # two simulated hours of 500 sensors, twice
def test_same_values_regardless_of_step_cadence(city: City) -> None:
    a = Simulator(city, START, seed=21, incidents="none")
    b = Simulator(city, START, seed=21, incidents="none")
    end = START + timedelta(hours=2)
    fa = [
        x
        for _, batch in a.run(end, timedelta(seconds=60))
        for x in zip(batch.idx.tolist(), batch.t.tolist(), batch.v.tolist())
    ]
    fb = [
        x
        for _, batch in b.run(end, timedelta(seconds=900))
        for x in zip(batch.idx.tolist(), batch.t.tolist(), batch.v.tolist())
    ]
    assert sorted(fa) == sorted(fb)
    ids = [city.sensors[i].id for i, _, _ in fb[:200]]
    ts = np.array([t for _, t, _ in fb[:200]])
    again = Simulator(city, START, seed=21, incidents="none").values_at(ids, ts)
    other = Simulator(city, START, seed=22, incidents="none").values_at(ids, ts)
    assert np.allclose(again, [v for *_, v in fb[:200]])
    assert not np.allclose(other, again)


def test_normal_storm_lags_recedes_and_stays_below_blue(city: City) -> None:
    t0 = START.timestamp() + 6 * 3600
    phys = Physics(city, 21, forced_storms=[(t0, 2 * 3600.0, MAX_NORMAL_RAIN)])
    t = np.arange(t0 - 3600, t0 + 10 * 3600, 60.0)
    for kind, limit in (("drainage_level", 70.0), ("rainfall", 16.7), ("road_water_depth", 5.0)):
        for s in [s for s in city.sensors if s.kind == kind]:
            i = city.sensors.index(s)
            v = phys.values(kind, t, np.full(t.size, i))
            assert v.max() < limit, (kind, s.id, v.max())
    s = next(s for s in city.sensors if s.kind == "drainage_level")
    i = city.sensors.index(s)
    lvl = phys.values("drainage_level", t, np.full(t.size, i))
    rain = phys.values("rainfall", t, np.full(t.size, i))
    lag_min = (t[np.argmax(lvl)] - t[np.argmax(rain)]) / 60
    assert 10 <= lag_min <= 45
    pre = lvl[t < t0].mean()
    assert lvl.max() - pre > 10  # the storm is visible
    after_3h = lvl[np.searchsorted(t, t0 + 5 * 3600)]
    assert after_3h - pre < 0.3 * (lvl.max() - pre)  # mostly receded three hours after the rain stopped
