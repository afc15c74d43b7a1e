from __future__ import annotations

from datetime import timedelta

from resilience.detection import SilenceTracker
from resilience.events import InMemoryEventBus

from .helpers import T0, Sensor


def test_silent_sensor_reported_once_then_recovers():
    cat = {"a": Sensor("a", "x", "methane", expected_interval_s=60),
           "b": Sensor("b", "x", "tilt", expected_interval_s=600)}
    bus = InMemoryEventBus()
    tr = SilenceTracker(cat, k=3, started=T0, bus=bus)
    tr.observe("a", T0)
    tr.observe("b", T0)
    assert tr.check(T0 + timedelta(minutes=2)) == []
    ev = tr.check(T0 + timedelta(minutes=5))
    assert [(e.sensor_id, e.status) for e in ev] == [("a", "silent")]
    assert ev[0].last_seen == T0 and "silent" in ev[0].explanation
    assert tr.check(T0 + timedelta(minutes=6)) == []  # not repeated
    tr.observe("a", T0 + timedelta(minutes=7))
    ev = tr.check(T0 + timedelta(minutes=7, seconds=30))
    assert [(e.sensor_id, e.status) for e in ev] == [("a", "ok")]
    assert len(bus.published) == 2


def test_never_seen_sensor_goes_silent_from_start():
    tr = SilenceTracker({"a": Sensor("a", "x", "methane")}, k=2, started=T0)
    assert [e.status for e in tr.check(T0 + timedelta(minutes=3))] == ["silent"]
