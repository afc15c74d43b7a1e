from __future__ import annotations

from datetime import timedelta

from resilience.detection import SilenceTracker
from resilience.events import InMemoryEventBus

from .helpers import T0, Sensor


def test_silent_sensor_reported_once_then_recovers():
    cat = {
        "a": Sensor("a", "x", "methane", expected_interval_s=60),
        "b": Sensor("b", "x", "tilt", expected_interval_s=600),
    }
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


def _feeds(lag_s: float) -> SilenceTracker:
    """Two utilities with 10 s sensors: ``a1``/``a2`` on feed A, ``b1`` on feed B."""
    cat = {
        sid: Sensor(sid, "x", "strain", expected_interval_s=10, utility_id=u)
        for sid, u in (("a1", "A"), ("a2", "A"), ("b1", "B"))
    }
    return SilenceTracker(cat, k=3, started=T0, feed_lag_s=lag_s)


def test_a_feed_trailing_another_is_transit_not_silence():
    tr = _feeds(lag_s=180)
    for sid in ("a1", "a2", "b1"):
        tr.observe(sid, T0)
    # Feed A's pack for the next two minutes is processed before feed B's: B's sensor is not silent.
    tr.observe("a1", T0 + timedelta(seconds=120))
    tr.observe("a2", T0 + timedelta(seconds=120))
    assert tr.check(T0 + timedelta(seconds=120)) == []
    tr.observe("b1", T0 + timedelta(seconds=120))
    assert tr.check(T0 + timedelta(seconds=121)) == []


def test_one_sensor_silent_within_a_live_feed_is_found_by_the_feed_watermark():
    tr = _feeds(lag_s=180)
    for sid in ("a1", "a2", "b1"):
        tr.observe(sid, T0)
    tr.observe("a1", T0 + timedelta(seconds=40))  # a2 stopped; its feed went on
    ev = tr.check(T0 + timedelta(seconds=40))
    assert [(e.sensor_id, e.status) for e in ev] == [("a2", "silent")]


def test_a_stopped_feed_ages_by_the_clock_after_its_lag():
    tr = _feeds(lag_s=60)
    for sid in ("a1", "a2", "b1"):
        tr.observe(sid, T0)
    for sid in ("a1", "a2"):
        tr.observe(sid, T0 + timedelta(seconds=50))
    assert tr.check(T0 + timedelta(seconds=50)) == []  # B trails by 50 s: within its lag
    ev = tr.check(T0 + timedelta(seconds=61))  # B's gateway is down: judged by the clock
    assert [(e.sensor_id, e.status) for e in ev] == [("b1", "silent")]


def test_feed_watermarks_survive_a_snapshot():
    tr = _feeds(lag_s=180)
    tr.observe("a1", T0 + timedelta(seconds=5))
    again = _feeds(lag_s=180)
    again.load_state(tr.to_state())
    assert again.feed_watermarks() == {"A": T0 + timedelta(seconds=5)}
