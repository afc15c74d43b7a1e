"""The evaluation's truth keys on crafted histories in the real database: a gas leak closed by the
evaluation operator at 2 minutes while methane stays high, re-opened by the tick (or not), scored against a
ground-truth incident; and the operator itself, driven by the data time it is given."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from alerts.evaluate import Incident
from alerts.evaluate_condition import Condition, condition_of
from alerts.evaluate_operator import operate
from alerts.evaluate_truth import p99, resolved_while_active, score_truth, shown_state, state_agreement
from alerts.model import AlertState
from alerts.store import reads
from resilience.core.domain import Level
from resilience.core.events import AnomalyPhase
from tests.alerts.helpers import anomaly, at
from tests.alerts.test_engine_db import Clock
from tests.alerts.test_one_alert_per_incident import alert_rows, engine


def incident(
    start: float, end: float, asset: str = "tunnel-10", *, onset: float | None = None, settled: float | None = None
) -> Condition:
    """A cause from ``start`` to ``end`` whose condition holds from ``onset`` to ``settled`` (default: the same)."""
    return Condition(
        "inc-1", at(start), at(end), at(start if onset is None else onset), at(end if settled is None else settled)
    )


def leak_closed_early(adb: Engine, *, reopen: bool) -> tuple[int, float]:
    """Fires at 0, resolved by the operator at 120 (override), re-opened by the tick after the hold if
    ``reopen``, the leak ends at 900; returns the alert id and the re-open hold."""
    eng = engine(adb, Clock(at(0)))
    (a,) = eng.handle(anomaly(level=Level.RED, t=0, anomaly_id="leak", asset="tunnel-10"))
    assert operate(adb, eng.rules, at(119)) == []
    assert operate(adb, eng.rules, at(120)) == [a.id]
    hold = eng.rules.reopen_after_rules(a.rules)
    if reopen:
        assert eng.tick(at(120 + hold)).reopened == 1
        assert operate(adb, eng.rules, at(240 + hold)) == []  # once per alert: the re-opening runs its course
    eng.handle(anomaly(phase=AnomalyPhase.CLOSE, level=Level.RED, t=900, anomaly_id="leak", asset="tunnel-10"))
    return a.id, hold


def test_the_operator_resolves_two_minutes_after_firing_with_override_while_the_condition_holds(adb: Engine) -> None:
    aid, _ = leak_closed_early(adb, reopen=False)
    (row,) = alert_rows(adb)
    assert row["state"] == AlertState.RESOLVED.value and row["resolved_by"] == "eval-operator"
    with adb.connect() as conn:
        steps = [k for _, k in reads.state_history(conn, [aid])[aid]]
    assert steps == ["fired", "resolved", "cleared"]


def test_a_reopened_alert_is_not_resolved_while_active_and_its_dark_minutes_count_against_agreement(
    adb: Engine,
) -> None:
    aid, hold = leak_closed_early(adb, reopen=True)
    inc = incident(0, 900)
    with adb.connect() as conn:
        scores = score_truth(conn, [inc], {"inc-1": {aid}}, staleness=[1.0, 2.0])
        history = reads.state_history(conn, [aid])
    assert scores["resolved_while_active"] == 0
    # samples every minute from 0 to 900 + 600 s: 25; dark (resolved, hazard on) from 120 until the re-opening
    dark = [t for t in range(0, 1500, 60) if 120 <= t < 120 + hold]
    assert scores["state_samples"] == 25
    assert scores["state_agreement"] == round((25 - len(dark)) / 25, 4)
    assert shown_state(history[aid], at(120 + hold)) == "active"
    assert shown_state(history[aid], at(960)) == "cleared"  # 已恢复 after the leak ended


def test_an_alert_closed_on_a_live_hazard_and_never_reopened_is_counted(adb: Engine) -> None:
    aid, _ = leak_closed_early(adb, reopen=False)
    with adb.connect() as conn:
        history = reads.state_history(conn, [aid])
    assert resolved_while_active([incident(0, 900)], {"inc-1": {aid}}, history) == [("inc-1", aid, at(120))]
    # resolved after the incident ended in the ground truth: not a silenced hazard
    assert resolved_while_active([incident(0, 100)], {"inc-1": {aid}}, history) == []
    # a missed incident: every sample disagrees but the first (a minute's grace for detection)
    assert state_agreement([incident(0, 900)], {"inc-1": set()}, {}, after_s=0) == (round(1 / 15, 4), 15)


def test_p99_is_the_nearest_rank() -> None:
    assert p99([]) is None
    assert p99([float(i) for i in range(1, 101)]) == 99.0
    assert p99([0.0, 30.0]) == 30.0


def test_staleness_is_the_shown_value_against_the_newest_stored_reading(adb: Engine) -> None:
    """An open alert on a sensor read a minute ago shows that reading: 0 s stale. One whose newest reading is
    older than the console's look-back shows none: stale by what is stored past the look-back (here 0)."""
    import uuid

    from sqlalchemy import insert

    from alerts.evaluate_operator import sample_staleness
    from resilience.core.domain import Reading
    from resilience.store.readings import write_readings
    from resilience.store.schema import sensors
    from resilience.store.timeseries import get_backend

    sid = f"st-{uuid.uuid4().hex[:8]}"
    with adb.begin() as conn:
        conn.execute(
            insert(sensors).values(
                id=sid, asset_id="a1", utility_id="gasco", kind="methane", unit="percent_lel", expected_interval_s=60
            )
        )
        write_readings(conn, [Reading(sid, at(t), 20.0 + t / 60) for t in (0, 60, 120)], get_backend(conn))
    eng = engine(adb, Clock(at(0)))
    eng.handle(anomaly(level=Level.RED, sensor=sid, t=0, anomaly_id="st"))
    with adb.connect() as conn:
        assert sample_staleness(conn, at(180)) == [0.0]
        assert sample_staleness(conn, at(7 * 3600)) == [0.0]  # nothing stored after the look-back began


def test_a_reopening_stamped_before_the_resolution_it_undid_still_counts_as_a_reopening(adb: Engine) -> None:
    """The operator's data clock ran ahead of a lagging engine: the re-opening carries its signal's time, before
    the resolution. In the order they were made it re-opened the alert, so the hazard was not left silent."""
    from alerts.service import AlertService

    eng = engine(adb, Clock(at(0)))
    (a,) = eng.handle(anomaly(level=Level.YELLOW, t=0, anomaly_id="lag", asset="tunnel-12"))
    with adb.begin() as conn:
        AlertService(conn, eng.rules, at(300)).resolve(a.id, by="eval-operator", note="done", override=True)
    eng.handle(anomaly(level=Level.RED, t=200, anomaly_id="lag", asset="tunnel-12"))  # late: stamped 200
    with adb.connect() as conn:
        history = reads.state_history(conn, [a.id])[a.id]
    assert [k for _, k in history] == ["fired", "resolved", "reopened"]
    assert history[2][0] == at(300)  # seen when it was made, after the resolution
    assert resolved_while_active([incident(0, 900, "tunnel-12")], {"inc-1": {a.id}}, {a.id: history}) == []
    assert shown_state(history, at(400)) == "active"


def test_detection_data_time_is_the_oldest_detectors_newest_scored_reading(adb: Engine) -> None:
    """What the engine's clock follows in an accelerated run: the detectors' beats' data time (the slowest)."""
    from sqlalchemy import text as sql

    from resilience.store.heartbeats import Heartbeat, beat, detection_data_time

    with adb.begin() as conn:
        conn.execute(sql("DELETE FROM worker_heartbeats"))
        assert detection_data_time(conn) is None
        beat(conn, Heartbeat("detector-a", "detector", at(0), at(0), 0, 0.0, {"data_time": at(600).isoformat()}))
        beat(conn, Heartbeat("detector-b", "detector", at(0), at(0), 0, 0.0, {"data_time": at(300).isoformat()}))
        beat(conn, Heartbeat("detector-c", "detector", at(0), at(0), 0, 0.0, {"data_time": "not a time"}))
        beat(conn, Heartbeat("ingest-1", "ingest", at(0), at(0), 0, 0.0, {"data_time": at(900).isoformat()}))
        assert detection_data_time(conn) == at(300)


def test_a_fault_before_its_definition_and_a_value_still_over_its_limit_after_the_cause_are_not_held_against_it() -> (
    None
):
    """A stuck sensor is stuck once frozen for its definition: "none" before agrees. After the cause, while the
    readings are still over their limits, "active" agrees, and so does "cleared"; once they are back, only
    "cleared" or "none" do."""
    fired_late = {1: [(at(600), "fired"), (at(1500), "cleared")]}
    strict = incident(0, 900)
    fair = incident(0, 900, onset=600, settled=1500)
    # strict: 10 dark minutes before the fault's definition is met, 10 active ones after the cause
    assert state_agreement([strict], {"inc-1": {1}}, fired_late, after_s=600) == (round(7 / 25, 4), 25)
    assert state_agreement([fair], {"inc-1": {1}}, fired_late, after_s=600) == (1.0, 35)
    never_cleared = {1: [(at(600), "fired")]}
    agreement, samples = state_agreement([fair], {"inc-1": {1}}, never_cleared, after_s=600)
    assert samples == 35 and agreement == round(26 / 35, 4)  # active 9 samples too long (one minute's grace)


def test_the_condition_ends_with_the_first_reading_back_inside_the_limits(adb: Engine) -> None:
    """Methane above the blue limit (5 %LEL) after the leak was shut: the condition lasts until it reads 4.
    A silent sensor's condition ends with its first reading; a stuck one's starts once it meets the definition."""
    import uuid

    from sqlalchemy import insert

    from resilience.core.domain import STUCK_AFTER_S, Reading
    from resilience.store.readings import write_readings
    from resilience.store.schema import sensors
    from resilience.store.timeseries import get_backend

    sid = f"cond-{uuid.uuid4().hex[:8]}"
    with adb.begin() as conn:
        conn.execute(
            insert(sensors).values(
                id=sid, asset_id="a1", utility_id="gasco", kind="methane", unit="percent_lel", expected_interval_s=60
            )
        )
        values = [(0, 30.0), (600, 40.0), (900, 20.0), (960, 9.0), (1020, 6.0), (1080, 4.0), (1140, 1.0)]
        write_readings(conn, [Reading(sid, at(t), v) for t, v in values], get_backend(conn))
        leak = condition_of(
            conn, Incident("i", "gas_leak", "gas_explosion", "a1", (sid,), "d1", at(0), at(900)), silence_k=3
        )
        silent = condition_of(
            conn, Incident("i", "silent_sensor", "sensor_fault", "a1", (sid,), "d1", at(610), at(1000)), silence_k=3
        )
        stuck = condition_of(
            conn, Incident("i", "stuck_sensor", "sensor_fault", "a1", (sid,), "d1", at(0), at(2000)), silence_k=3
        )
    assert (leak.onset, leak.settled) == (at(0), at(1080))
    assert (silent.onset, silent.settled) == (at(610 + 180), at(1020))
    assert (stuck.onset, stuck.settled) == (at(STUCK_AFTER_S), at(2000))


def test_engine_data_time_is_the_engines_beat(adb: Engine) -> None:
    """The clock the evaluation's duty officer acts on: the engine's timers, not the newest reading."""
    from sqlalchemy import text as sql

    from resilience.store.heartbeats import Heartbeat, beat, engine_data_time

    with adb.begin() as conn:
        conn.execute(sql("DELETE FROM worker_heartbeats"))
        assert engine_data_time(conn) is None
        beat(conn, Heartbeat("detector-a", "detector", at(0), at(0), 0, 0.0, {"data_time": at(9000).isoformat()}))
        beat(conn, Heartbeat("engine-a", "engine", at(0), at(0), 0, 0.0, {"data_time": at(600).isoformat()}))
        assert engine_data_time(conn) == at(600)
        conn.execute(sql("DELETE FROM worker_heartbeats"))


def test_the_engine_beats_no_data_time_before_it_has_seen_data() -> None:
    """Before any event the engine's clock reads wall time; its beat must not offer that as data time (the
    accelerated evaluation's officer took it, a day ahead of the data, and stamped every resolution there)."""
    from resilience.core.clock import DataClock
    from resilience.runtime.engine_process import beat_of

    clock = DataClock(wall=lambda: at(86_400), follow_rate=True)
    assert beat_of("engine-x", clock)().detail["data_time"] is None
    clock.observe(at(60))
    said = datetime.fromisoformat(beat_of("engine-x", clock)().detail["data_time"])
    assert at(60) <= said < at(86_400)


def test_a_reopening_the_operator_caused_notifies_again_but_is_counted_apart(adb: Engine) -> None:
    """Resolved on a live leak at 2 minutes, re-opened by the tick: the unit told "resolved" is told again
    (a second firing message), which the evaluation counts as the officer's doing, not a second incident."""
    from alerts.evaluate import evaluate

    aid, hold = leak_closed_early(adb, reopen=True)
    gas = Incident("inc-1", "gas_leak", "gas_explosion", "tunnel-10", ("s1",), "d1", at(0), at(900))
    with adb.connect() as conn:
        assert reads.reopened_after_override(conn) == {aid: 1}
        score = evaluate(conn, [gas], days=1)
    assert score["max_notifications_per_incident_with_reopens"] == 2
    assert score["max_notifications_per_incident"] == 1 and score["reopens_after_override"] == 1
