"""The demo schedule puts one incident of every type in the first half hour, on distinct assets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from resilience.simulator import INCIDENT_TYPES, Simulator, build_city


def test_demo_schedule_has_every_type_early():
    start = datetime(2026, 1, 5, 8, tzinfo=UTC)
    sim = Simulator(build_city(42, 2000), start, 42, incidents="demo")
    truth = sim.ground_truth()
    assert sorted(t["type"] for t in truth) == sorted(INCIDENT_TYPES)
    starts = [datetime.fromisoformat(t["start"]) for t in truth]
    assert min(starts) >= start + timedelta(minutes=1) and max(starts) <= start + timedelta(minutes=30)
    assert len({t["asset_id"] for t in truth}) == len(truth)
