"""The compact snapshot parts: an engine restored from them scores and alarms exactly as the one that took them."""

from __future__ import annotations

from array import array
from collections import deque
from datetime import timedelta

import numpy as np
import pytest

from resilience.detection import DetectionEngine
from resilience.detection import state_parts
from resilience.detection.detectors import RateOfChangeDetector, RobustZScoreDetector
from resilience.detection.seasonal import SeasonalBaselineDetector
from resilience.core.domain import SENSOR_KINDS, Reading
from resilience.core.events import InMemoryEventBus

from .helpers import T0, Sensor


def _catalogue() -> dict[str, Sensor]:
    """Three sensors of every kind, so every detector type and configuration is packed."""
    return {f"{kind}-{i}": Sensor(f"{kind}-{i}", f"asset-{i}", kind) for kind in SENSOR_KINDS for i in range(3)}


def _readings(cat: dict[str, Sensor], n: int, start: int, seed: int) -> list[Reading]:
    """Noisy readings a minute apart, with a step every few hundred to open and close anomalies."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(start, start + n):
        step = 30.0 if k % 400 in range(200, 210) else 0.0
        for sid in cat:
            out.append(Reading(sid, T0 + timedelta(minutes=k), float(10 + step + rng.normal(0, 0.3))))
    return out


def _engine(cat: dict[str, Sensor]) -> tuple[DetectionEngine, InMemoryEventBus]:
    bus = InMemoryEventBus()
    return DetectionEngine(cat, bus), bus


def _pack(engine: DetectionEngine) -> tuple[dict[str, object], list[bytes]]:
    shared = state_parts.encode(engine.snapshot_shared())
    parts = [data for _, data in state_parts.capture(engine, None).values()]
    return {"shared": shared, "layout": state_parts.layout()}, parts


def _unpack(cat: dict[str, Sensor], packed: tuple[dict[str, object], list[bytes]]) -> DetectionEngine:
    header, parts = packed
    engine, _ = _engine(cat)
    state_parts.check_layout(header["layout"])  # type: ignore[arg-type]
    engine.restore_shared(state_parts.decode(header["shared"]))  # type: ignore[arg-type]
    for data in parts:
        state_parts.load_sensors(engine, data)
    return engine


def test_restored_engine_raises_the_same_anomalies_as_the_uninterrupted_one():
    cat = _catalogue()
    a, bus_a = _engine(cat)
    a.process(_readings(cat, 600, 0, seed=1))  # windows full, anomalies opened and some still open
    b = _unpack(cat, _pack(a))
    assert set(b.ensembles) == set(a.ensembles) and b.open.keys() == a.open.keys()
    assert all(b.ensembles[sid].compact() == ens.compact() for sid, ens in a.ensembles.items())
    before = len(bus_a.published)
    later = _readings(cat, 500, 600, seed=2)
    events_a = a.process(later)
    events_b = b.process(later)
    assert events_a == events_b and len(events_a) > 0
    assert bus_a.published[before:] == events_a
    for r in later[:200]:  # and every score, not only the events
        assert a.ensemble(r.sensor_id).process_one(r.value, r.ts) == b.ensemble(r.sensor_id).process_one(r.value, r.ts)


def test_a_part_holds_only_its_own_sensors_and_parts_cover_all():
    cat = _catalogue()
    a, _ = _engine(cat)
    a.process(_readings(cat, 5, 0, seed=3))
    parts = {p: state_parts.decode(data, compressed=False) for p, (_, data) in state_parts.capture(a, None).items()}
    assert sorted(sid for entries in parts.values() for sid, _ in entries) == sorted(cat)
    assert all(state_parts.part_of(sid) == p for p, entries in parts.items() for sid, _ in entries)
    one = state_parts.part_of(next(iter(cat)))
    assert list(state_parts.capture(a, {one})) == [one]
    assert a.touched == set(cat)


def test_a_snapshot_of_other_detectors_is_refused():
    RobustZScoreDetector().compact_state()  # registers its layout
    layout = state_parts.layout()
    layout["robust_z"] = [*layout["robust_z"], "renamed_"]
    with pytest.raises(ValueError, match="robust_z"):
        state_parts.check_layout(layout)


def test_damaged_bytes_are_refused():
    data = state_parts.encode([["s", [0, False, None, []]]])
    with pytest.raises(Exception):  # noqa: B017 - zlib.error or msgspec.DecodeError, either refuses
        state_parts.decode(data[:-5])


def test_json_states_of_the_earlier_layout_still_load():
    """A whole-state JSON snapshot from before the windows were arrays is read once, the same windows."""
    rate = RateOfChangeDetector(window_s=600)
    old = {
        "type": "rate_of_change",
        "params": {},
        "state": {
            "history_": {"__deque__": [{"__tuple__": [0.0, 1.0]}, {"__tuple__": [60.0, 2.0]}], "maxlen": None},
            "typical_": 0.5,
            "n_": 2,
        },
    }
    rate.load_state(old)
    assert list(rate.times_) == [0.0, 60.0] and list(rate.values_) == [1.0, 2.0] and not hasattr(rate, "history_")
    z = RobustZScoreDetector(window=3)
    z.load_state({"state": {"values_": {"__deque__": [1.0, 2.0, 3.0], "maxlen": 3}, "n_": 3}})
    assert isinstance(z.values_, array) and list(z.values_) == [1.0, 2.0, 3.0]
    z.learn_one(4.0, 0.0)
    assert list(z.values_) == [2.0, 3.0, 4.0]
    s = SeasonalBaselineDetector(period_s=7200, bucket_s=3600)
    s.load_state({"state": {"mean_": [1.0, 2.0], "dev_": [0.1, 0.2], "count_": [5, 6]}})
    assert s.count_.typecode == "i" and s.usual(3600.0) == 2.0


def test_packing_leaves_the_live_arrays_free_to_grow():
    cat = _catalogue()
    a, _ = _engine(cat)
    a.process(_readings(cat, 300, 0, seed=4))
    state_parts.capture(a, None)
    a.process(_readings(cat, 5, 300, seed=5))  # would raise BufferError if a view of an array were kept


def test_compact_values_take_the_fresh_attribute_types():
    z = RobustZScoreDetector(window=4, recent=3, agree=2)
    for i in range(10):
        z.learn_one(float(i), float(i))
    fresh = RobustZScoreDetector(window=4, recent=3, agree=2)
    fresh.load_compact_state(state_parts.decode(state_parts.encode(z.compact_state())))
    assert fresh.recent_ == z.recent_ and isinstance(fresh.recent_, deque) and fresh.recent_.maxlen == 2
    assert fresh.values_ == z.values_ and fresh.to_state() == z.to_state()
