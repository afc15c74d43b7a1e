"""Report by exception: devices send between periodic reports on a limit crossing or a deadband move."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from resilience.simulator.city import build_city
from resilience.simulator.devices import ExceptionReporter
from resilience.simulator.simulation import Simulator
from resilience.simulator.incidents import Effect, Incident

START = datetime(2024, 7, 1, tzinfo=UTC)


def _times(sim: Simulator, sensor_id: str, hours: float = 1.0) -> list[tuple[float, float]]:
    out = []
    i = sim.sensor_index(sensor_id)
    for _, b in sim.run(START + timedelta(hours=hours), timedelta(seconds=30)):
        m = b.idx == i
        out += list(zip(b.t[m].tolist(), b.v[m].tolist()))
    return out


def test_reporter_flags_crossings_and_deadband_moves_only() -> None:
    rep = ExceptionReporter(["methane", "water_pressure", "strain"], np.array([60.0, 60.0, 1.0]), probe_s=5.0)
    assert rep.watched.tolist() == [0, 1]  # a 1 s strain gauge has nothing to add
    rep.sent(np.array([0, 1]), np.array([0.0, 0.0]), np.array([0.3, 0.30]))
    # methane +1.0 %LEL (inside the 2 %LEL deadband), pressure -0.01 MPa (inside 0.02): nothing
    assert rep.exceptions(5.0, np.array([1.3, 0.29])).tolist() == []
    # methane 5.1 %LEL crosses blue (and the deadband); pressure down 0.03 MPa leaves the deadband
    assert rep.exceptions(10.0, np.array([5.1, 0.27])).tolist() == [0, 1]
    # pressure 0.195 MPa is below its 0.20 blue limit (direction below): a crossing, however small the step
    rep.sent(np.array([1]), np.array([10.0]), np.array([0.205]))
    assert rep.exceptions(15.0, np.array([0.3, 0.195])).tolist() == [1]
    # silent (NaN) devices send nothing
    assert rep.exceptions(20.0, np.array([np.nan, np.nan])).tolist() == []


def test_gas_leak_is_reported_within_seconds_not_at_the_next_period() -> None:
    city = build_city(seed=5, n_sensors=300)
    methane = next(s for s in city.sensors if s.kind == "methane")
    onset = START + timedelta(minutes=20, seconds=7)
    leak = Incident(
        "T-1",
        "gas_leak",
        methane.asset_id,
        "D",
        onset,
        onset + timedelta(minutes=30),
        [Effect(methane.id, "add", 40.0, 60.0, 60.0)],
    )
    periodic = _times(Simulator(city, START, seed=5, incidents=[leak], report_by_exception=False), methane.id)
    exceptional = _times(Simulator(city, START, seed=5, incidents=[leak]), methane.id)
    t0 = onset.timestamp()
    first_periodic = min(t for t, v in periodic if t >= t0 and v >= 5.0)
    first_exception = min(t for t, v in exceptional if t >= t0 and v >= 5.0)
    assert first_exception - t0 <= 15.0  # 40 %LEL at tau 60 s passes blue in ~8 s; probes every 5 s
    assert first_exception < first_periodic
    # every periodic report is still sent, with the same value
    assert set(periodic) <= set(exceptional)
