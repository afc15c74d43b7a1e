"""Issue 23: ``recompute_all`` re-assesses only what expired evidence changed, with the result of
re-assessing every pair, on random sequences of anomalies, health changes, rain readings and recomputations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from resilience.bench.synthetic_city import build_city, random_anomaly
from resilience.core.events import InMemoryEventBus, SensorHealthEvent
from resilience.risk.service import RiskService
from tests.examples import max_examples

T0 = datetime(2025, 7, 1, tzinfo=UTC)
CITY = build_city(150, 500, 3, size_km=0.6, seed=4)  # dense: many coupling edges between few assets
STEP = st.tuples(st.sampled_from(["anomaly", "health", "rain", "recompute"]), st.integers(0, 2**31 - 1))


def _service() -> tuple[RiskService, InMemoryEventBus]:
    assets, districts, sensors = CITY
    bus = InMemoryEventBus()
    return RiskService(assets=assets, districts=districts, sensors=sensors, bus=bus, clock=lambda: T0), bus


def _state(svc: RiskService, bus: InMemoryEventBus) -> dict[str, Any]:
    """Everything a reader or the store sees: assessments (with their text), tallies, rows, points, events."""
    return {
        "current": svc.current,
        "text": {p: a.explanation for p, a in svc.current.items()},
        "spectrum": svc.spectrum().to_dict(),
        "dirty": svc._dirty,
        "aggregates": svc._dirty_aggregates,
        "points": svc._pending_points,
        "published": bus.published,
    }


def _apply(svc: RiskService, kind: str, seed: int, ts: datetime, open_ids: dict[str, dict[str, Any]]) -> None:
    rng = np.random.default_rng(seed)
    sensors = CITY[2]
    s = sensors[int(rng.integers(len(sensors)))]
    if kind == "anomaly":
        svc.handle(random_anomaly(rng, sensors, ts, open_ids))
    elif kind == "health":
        status = ["ok", "silent", "stuck"][int(rng.integers(3))]
        svc.handle(SensorHealthEvent(s["id"], s["asset_id"], s["kind"], status, ts))
    elif kind == "rain":
        rain = [x for x in sensors if x["kind"] == "rainfall"]
        svc.observe_reading(rain[int(rng.integers(len(rain)))]["id"], float(rng.uniform(0, 80)), ts)


@settings(max_examples=max_examples(40), deadline=None)
@given(steps=st.lists(STEP, min_size=1, max_size=60), hours=st.lists(st.integers(0, 8), min_size=1, max_size=8))
def test_incremental_recompute_equals_full(steps: list[tuple[str, int]], hours: list[int]) -> None:
    incremental, inc_bus = _service()
    full, full_bus = _service()
    ts = T0
    opened: tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]] = ({}, {})
    for i, (kind, seed) in enumerate(steps):
        ts += timedelta(minutes=1)
        if kind == "recompute":  # sometimes far enough on that evidence expires (6 h time to live)
            ts += timedelta(hours=hours[i % len(hours)])
            incremental.recompute_all(ts)
            full.recompute_all(ts, full=True)
            assert _state(incremental, inc_bus) == _state(full, full_bus)
        else:
            _apply(incremental, kind, seed, ts, opened[0])
            _apply(full, kind, seed, ts, opened[1])
    ts += timedelta(hours=7)  # everything open expires
    incremental.recompute_all(ts)
    full.recompute_all(ts, full=True)
    assert _state(incremental, inc_bus) == _state(full, full_bus)
