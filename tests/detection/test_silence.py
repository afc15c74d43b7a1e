from __future__ import annotations

from datetime import timedelta

from resilience.detection import SilenceTracker
from resilience.detection.silent_sensors import PlatformHorizon
from resilience.core.events import InMemoryEventBus

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
    # back with its first reading, at that reading's time (not at the next check, which lag may hold back)
    assert len(bus.published) == 2
    back = bus.published[-1]
    assert (back.sensor_id, back.status, back.ts) == ("a", "ok", T0 + timedelta(minutes=7))
    assert tr.check(T0 + timedelta(minutes=7, seconds=30)) == []  # already said


def test_without_a_bus_a_return_is_given_by_the_next_check():
    tr = SilenceTracker({"a": Sensor("a", "x", "methane", expected_interval_s=60)}, k=3, started=T0)
    tr.observe("a", T0)
    assert [e.status for e in tr.check(T0 + timedelta(minutes=5))] == ["silent"]
    tr.observe("a", T0 + timedelta(minutes=7))
    ev = tr.check(T0 + timedelta(minutes=7, seconds=30))
    assert [(e.sensor_id, e.status, e.ts) for e in ev] == [("a", "ok", T0 + timedelta(minutes=7))]


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


def test_a_feed_draining_a_backlog_is_alive_not_stopped():
    """After a platform stall, a feed's queued readings arrive late: heard now, stamped long ago."""
    tr = _feeds(lag_s=60)
    for sid in ("a1", "a2", "b1"):
        tr.observe(sid, T0)
    late = T0 + timedelta(minutes=5)  # the platform's horizon, after a 5-minute stall
    for sid in ("a1", "a2"):  # feed A's backlog, stamped T0 + 10 s, processed at the horizon
        tr.observe(sid, T0 + timedelta(seconds=10))
    tr.mark_heard(["a1", "a2"], late)
    tr.mark_heard(["b1"], late - timedelta(seconds=30))
    assert tr.check(late) == []  # both feeds heard within their lag: judged by their own watermarks
    ev = tr.check(late + timedelta(seconds=31))  # B not heard for over a minute of the platform's time
    assert [(e.sensor_id, e.status) for e in ev] == [("b1", "silent")]


def test_a_sensor_that_joins_later_has_its_chance_from_the_first_check_that_sees_it():
    cat = {"a": Sensor("a", "x", "methane", expected_interval_s=60)}
    tr = SilenceTracker(cat, k=3, started=T0)
    tr.observe("a", T0)
    assert tr.check(T0 + timedelta(minutes=1)) == []
    cat["new"] = Sensor("new", "x", "methane", expected_interval_s=60)  # registered an hour after start
    tr.observe("a", T0 + timedelta(hours=1))
    assert tr.check(T0 + timedelta(hours=1)) == []  # not silent since T0: it was not there
    tr.observe("a", T0 + timedelta(hours=1, minutes=4))
    ev = tr.check(T0 + timedelta(hours=1, minutes=4))
    assert [(e.sensor_id, e.status) for e in ev] == [("new", "silent")]
    assert ev[0].last_seen is None


def test_a_restarted_tracker_gives_every_feed_a_fresh_window():
    tr = _feeds(lag_s=60)
    for sid in ("a1", "a2", "b1"):
        tr.observe(sid, T0)
    again = _feeds(lag_s=60)
    again.load_state(tr.to_state())
    again.restart()
    back = T0 + timedelta(hours=2)  # the detector was down for two hours
    assert again.check(back) == []  # the first check opens the window
    again.observe("a1", back + timedelta(seconds=5))
    again.observe("a2", back + timedelta(seconds=5))
    assert again.check(back + timedelta(seconds=30)) == []
    ev = again.check(back + timedelta(seconds=61))
    assert sorted(e.sensor_id for e in ev) == ["b1"]  # A reports again, B did not within its lag


def test_the_horizon_waits_for_both_stages_and_catches_up_after_a_gap():
    h = PlatformHorizon(step_s=5)
    assert h.advance(T0) is None  # detection has not drained the hand-off yet
    h.detector_current(T0)
    h.ingest_current(T0 - timedelta(seconds=3))
    assert h.advance(T0 + timedelta(seconds=1)) == T0 - timedelta(seconds=3)
    # ingest frozen for a minute: the horizon stands still, however late the check
    assert h.advance(T0 + timedelta(seconds=60)) == T0 - timedelta(seconds=3)
    h.detector_current(T0 + timedelta(seconds=60))
    h.ingest_current(T0 + timedelta(seconds=60))  # thawed: its queue is still to arrive
    assert h.advance(T0 + timedelta(seconds=61)) == T0 - timedelta(seconds=1)  # 2 x the wall time since
    assert h.advance(T0 + timedelta(seconds=64)) == T0 + timedelta(seconds=5)
    h.detector_current(T0)  # never back
    # after a long gap (this process stopped) it counts one step of it: +10 s, not +136 s
    assert h.advance(T0 + timedelta(seconds=200)) == T0 + timedelta(seconds=15)


def test_a_late_simulator_step_is_not_the_next_utility_stopping():
    """At 240x a late step carries 20 simulated minutes: feed A's pack moves data time 1,200 s ahead, and
    feed B's pack of the same step is processed a moment later. B has not stopped: it was heard a wall
    second ago. (Judged by data time alone, every B sensor went silent at that one moment.)"""
    tr = _feeds(lag_s=480)
    wall = T0 + timedelta(days=1)  # the wall clock runs far ahead of simulated time
    for sid in ("a1", "a2", "b1"):
        tr.observe(sid, T0)
    tr.mark_heard(["a1", "a2", "b1"], T0, wall)
    late = T0 + timedelta(seconds=1200)
    for sid in ("a1", "a2"):
        tr.observe(sid, late)
    tr.mark_heard(["a1", "a2"], late, wall + timedelta(seconds=1))
    assert tr.check(late, wall=wall + timedelta(seconds=1)) == []
    assert [e.sensor_id for e in tr.check(late)] == ["b1"]  # what data time alone says
    tr.observe("b1", late)
    tr.mark_heard(["b1"], late, wall + timedelta(seconds=1))
    assert [e.status for e in tr.check(late, wall=wall + timedelta(seconds=1))] == ["ok"]


def test_a_stopped_feed_in_an_accelerated_run_is_found_once_its_wall_grace_passes():
    tr = _feeds(lag_s=480)
    wall = T0 + timedelta(days=1)
    for sid in ("a1", "a2", "b1"):
        tr.observe(sid, T0)
    tr.mark_heard(["a1", "a2", "b1"], T0, wall)
    later, at = T0 + timedelta(seconds=2400), wall + timedelta(seconds=11)  # B's gateway down for 11 wall s
    for sid in ("a1", "a2"):
        tr.observe(sid, later)
    tr.mark_heard(["a1", "a2"], later, at)
    assert [e.sensor_id for e in tr.check(later, wall=at)] == ["b1"]
