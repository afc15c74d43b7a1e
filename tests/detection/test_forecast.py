"""The trend projector: a ramp's crossing time falls in the projection's interval, a flat or noisy series
projects nothing, and the projection is withdrawn when the trend stops."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from resilience.core.domain import SENSOR_KINDS, Level, Reading
from resilience.core.events import ForecastEvent, event_from_dict, event_to_dict
from resilience.detection.forecast import TrendProjector
from resilience.detection.forecast_tracker import ForecastTracker

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
METHANE = SENSOR_KINDS["methane"]  # above: blue 5, yellow 10, orange 20, red 50 %LEL


def feed(proj: TrendProjector, values: np.ndarray, start_s: float = 0.0, every_s: float = 60.0) -> float:
    """Feed one reading every ``every_s``; the time of the last one."""
    t = start_s
    for i, v in enumerate(values):
        t = start_s + i * every_s
        proj.learn_one(float(v), T0.timestamp() + t)
    return t


def test_a_noisy_ramp_projects_each_level_and_the_true_crossing_is_inside_the_interval() -> None:
    rng = np.random.default_rng(7)
    proj = TrendProjector.for_kind(METHANE)
    slope = 0.5  # %LEL per minute from 2 %LEL: red (50) at minute 96
    minutes = np.arange(20)
    last = feed(proj, 2.0 + slope * minutes + rng.normal(0, 0.4, minutes.size))
    now = T0.timestamp() + last
    out = proj.project_one(now)
    assert [p.level for p in out] == [Level.ORANGE, Level.RED]  # at 11.5 %LEL blue and yellow are reached
    for p in out:
        true_eta = ((p.limit - 2.0) / slope) * 60.0 - last
        assert p.eta_low_s <= true_eta <= (p.eta_high_s or float("inf")), (p, true_eta)
        assert p.eta_low_s <= p.eta_s <= (p.eta_high_s or float("inf"))


def test_a_falling_pressure_projects_its_lower_limits() -> None:
    rng = np.random.default_rng(3)
    # below: blue 0.20 ... red 0.10; pressure swings with demand, so only a crossing within 30 min is projected
    proj = TrendProjector.for_kind(SENSOR_KINDS["water_pressure"])
    last = feed(proj, 0.30 - 0.003 * np.arange(15) + rng.normal(0, 0.001, 15))
    out = proj.project_one(T0.timestamp() + last)
    assert out and out[0].level is Level.BLUE
    true_eta = (0.30 - 0.20) / 0.003 * 60.0 - last
    assert out[0].eta_low_s <= true_eta <= (out[0].eta_high_s or float("inf"))


def test_a_seasonal_kind_projects_only_a_near_crossing() -> None:
    proj = TrendProjector.for_kind(SENSOR_KINDS["water_pressure"])
    last = feed(proj, 0.30 - 0.002 * np.arange(15))  # blue in about 36 min: a demand swing, not yet a warning
    assert proj.trend() is not None
    assert proj.project_one(T0.timestamp() + last) == []


def test_flat_and_noisy_series_project_nothing() -> None:
    rng = np.random.default_rng(11)
    flat = TrendProjector.for_kind(METHANE)
    feed(flat, np.full(30, 3.0))
    assert flat.project_one() == []
    noisy = TrendProjector.for_kind(METHANE)
    feed(noisy, 3.0 + rng.normal(0, 1.5, 30))
    assert noisy.project_one() == []


def test_a_slow_trend_beyond_the_horizon_projects_nothing() -> None:
    proj = TrendProjector.for_kind(METHANE)
    feed(proj, 1.0 + 0.01 * np.arange(20))  # blue (5 %LEL) in about 6 h: beyond the 2 h horizon
    assert proj.trend() is not None and proj.trend().slope_low > 0  # type: ignore[union-attr]
    assert proj.project_one() == []


def test_a_kind_without_limits_or_side_is_never_projected() -> None:
    proj = TrendProjector.for_kind(SENSOR_KINDS["bearing_displacement"])
    feed(proj, np.arange(30, dtype=float))
    assert not proj.active and proj.project_one() == []


def test_fewer_minutes_than_needed_project_nothing() -> None:
    proj = TrendProjector.for_kind(METHANE)
    feed(proj, 2.0 + np.arange(4, dtype=float))
    assert proj.project_one() == []


@dataclass
class Info:
    asset_id: str
    kind: str
    thresholds: dict[str, float] | None = None


def test_the_tracker_issues_once_and_withdraws_when_the_trend_stops() -> None:
    events: list[ForecastEvent] = []
    tracker = ForecastTracker({"S1": Info("A1", "methane")}, events.append)
    rise = 2.0 + 0.5 * np.arange(20)
    plateau = np.full(25, rise[-1])
    values = np.concatenate([rise, plateau])
    tracker.observe(Reading("S1", T0 + timedelta(minutes=i), float(v)) for i, v in enumerate(values))
    phases = [e.phase for e in events]
    assert phases[0] == "issue" and phases[-1] == "withdraw", phases
    assert phases.count("issue") == 1
    assert len(events) <= 6, phases  # a steady ramp is a few events, not one a minute
    first = events[0]
    assert first.projections[-1]["level"] == "red" and first.message is not None
    assert first.message["code"] == "forecast.reach"
    assert "red in about" in first.explanation
    withdraw = events[-1]
    assert withdraw.projections == [] and withdraw.ts > first.ts
    assert withdraw.message == {"code": "forecast.withdrawn", "params": {}}  # 11.5 %LEL: red not reached
    # the event survives the event log's JSON form
    assert event_from_dict(event_to_dict(first)) == first
