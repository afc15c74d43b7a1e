"""Engine active/standby on a leader lease: one copy works, the other waits; killed, the standby takes over
and every event still becomes exactly one alert; paused past its lease, the old leader's commit is refused.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, text

from resilience.core.events import SensorHealthEvent
from resilience.runtime.leadership import EXIT_LEASE_LOST
from resilience.store.db import make_engine
from resilience.store.eventlog import PgEventLog
from resilience.store.leases import LeaderLease, LeaseLost, acquire, renew
from tests.reliability.conftest import Rig, record, wait_for
from tests.spine.workers import spawn, unique

pytestmark = pytest.mark.slow
M = 900
LEASE_S = 3.0


def _holder(engine: Engine, name: str = "engine") -> tuple[str, int] | None:
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT holder, epoch FROM leases WHERE name = :n AND expires_at > now()"), {"n": name}
        ).first()
    return None if row is None else (str(row.holder), int(row.epoch))


def _engine_copy(rig: Rig, instance: str, ready: str) -> subprocess.Popen[bytes]:
    env = rig.env(RESILIENCE_INSTANCE=instance, RESILIENCE_LEADER_LEASE_S=str(LEASE_S))
    return spawn(["engine"], env, f"rel-engine-{instance}", ready=ready, timeout=60)


def _publish_silences(rig: Rig, ids: list[str], asset: str) -> threading.Thread:
    log = PgEventLog(rig.engine)

    def run() -> None:
        for k in range(0, len(ids), 30):
            batch = [
                SensorHealthEvent(
                    sensor_id=s,
                    asset_id=asset,
                    sensor_kind="water_flow",
                    status="silent",
                    ts=datetime.now(UTC),
                    explanation="test silence",
                )
                for s in ids[k : k + 30]
            ]
            log.publish_many(batch)
            time.sleep(0.1)

    writer = threading.Thread(target=run)
    writer.start()
    return writer


def _alert_counts(rig: Rig, first: str) -> tuple[int, int, int, int]:
    """(alerts, fired transitions, highest fire count, notifications sent twice to one receiver)."""
    with rig.engine.connect() as conn:
        n_alerts, fired, fire_counts = conn.execute(
            text(
                "SELECT count(DISTINCT a.id), count(t.id), coalesce(max(a.fire_count), 0) FROM alerts a "
                "LEFT JOIN alert_transitions t ON t.alert_id = a.id AND t.kind = 'fired' WHERE a.scope LIKE :p"
            ),
            {"p": f"sensor:{first}%"},
        ).one()
        dup_notes = conn.execute(
            text(
                "SELECT count(*) FROM (SELECT group_key, receiver, kind, firing_keys::text FROM notifications "
                "GROUP BY 1, 2, 3, 4 HAVING count(*) > 1) d"
            )
        ).scalar_one()
    return int(n_alerts), int(fired), int(fire_counts), int(dup_notes)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGCONT)
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()


def test_a_stale_leaders_commit_is_refused(rel_url: str, rel_engine: Engine) -> None:
    """The fence itself: a holder whose lease another took cannot commit on its fenced engine."""
    name = unique("lease")
    work = make_engine(rel_url)
    old = LeaderLease(rel_engine, name, "old", lease_s=0.5)
    try:
        assert old.try_acquire() == 1
        old.fence(work)
        with work.begin() as conn:  # the leader's own commit passes
            conn.execute(
                text("INSERT INTO leases (name, holder, epoch, expires_at) VALUES (:n, 'w', 0, now())"),
                {"n": name + "-ok"},
            )
        with rel_engine.begin() as conn:
            assert acquire(conn, name, "new", 10.0) is None  # not yet expired: refused
        time.sleep(0.7)
        with rel_engine.begin() as conn:
            assert acquire(conn, name, "new", 10.0) == 2  # expired: taken, a new epoch
            assert not renew(conn, name, "old", 1, 10.0)  # the old epoch cannot renew
        with pytest.raises(LeaseLost), work.begin() as conn:
            conn.execute(
                text("INSERT INTO leases (name, holder, epoch, expires_at) VALUES (:n, 'w', 0, now())"),
                {"n": name + "-late"},
            )
        assert old.lost.is_set()
        with rel_engine.connect() as conn:
            names = set(conn.execute(text("SELECT name FROM leases WHERE name LIKE :p"), {"p": name + "-%"}).scalars())
        assert names == {name + "-ok"}, names
    finally:
        work.dispose()


def test_standby_takes_over_and_a_paused_leader_is_fenced(rig: Rig) -> None:
    first = rig.sensor("REL-LL", interval_s=60, count=M)
    ids = [first] + [f"{first}-{i}" for i in range(2, M + 1)]
    procs = [_engine_copy(rig, "a", "engine running")]
    try:
        assert (_holder(rig.engine) or ("", 0))[0] == "engine-a"
        procs.append(_engine_copy(rig, "b", "standby: lease engine"))
        writer = _publish_silences(rig, ids, f"{first}-A")
        assert wait_for(lambda: _alert_counts(rig, first)[0] > 100, 60), "the leader made no alerts"
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait(timeout=10)
        t0 = time.monotonic()
        assert wait_for(lambda: (_holder(rig.engine) or ("", 0))[0] == "engine-b", 30, every=0.05)
        takeover_s = time.monotonic() - t0
        writer.join()
        assert wait_for(lambda: _alert_counts(rig, first)[0] >= M, 120), _alert_counts(rig, first)

        # pause the new leader past its lease; a third copy takes over; the old one, resumed, is refused
        procs.append(_engine_copy(rig, "c", "standby: lease engine"))
        epoch_b = (_holder(rig.engine) or ("", 0))[1]
        procs[1].send_signal(signal.SIGSTOP)
        assert wait_for(lambda: (_holder(rig.engine) or ("", 0))[0] == "engine-c", 60, every=0.1)
        procs[1].send_signal(signal.SIGCONT)
        assert procs[1].wait(timeout=30) == EXIT_LEASE_LOST
        holder, epoch_c = _holder(rig.engine) or ("", 0)
        assert holder == "engine-c" and epoch_c > epoch_b
        time.sleep(2.0)  # anything doubled would show up now
        counts = _alert_counts(rig, first)
        record(
            {
                "fault": "engine leader SIGKILL, then SIGSTOP past its lease",
                "load": f"{M} sensor-silent events, lease {LEASE_S} s",
                "sent": M,
                "stored": counts[0],
                "handed": counts[1],
                "takeover_s": round(takeover_s, 2),
            }
        )
        assert counts == (M, M, 1, 0), counts
    finally:
        _stop(procs)


def test_scheduler_standby_takes_over_at_once_from_a_clean_stop(rig: Rig) -> None:
    """A leader that stops cleanly releases its lease: the standby starts its jobs without waiting it out."""
    env = {"RESILIENCE_LEADER_LEASE_S": "30"}  # long: only the release explains a quick takeover
    a = spawn(["scheduler"], rig.env(RESILIENCE_INSTANCE="a", **env), "rel-scheduler-a", ready="scheduler running")
    procs = [a]
    try:
        b = spawn(["scheduler"], rig.env(RESILIENCE_INSTANCE="b", **env), "rel-scheduler-b", ready="standby: lease")
        procs.append(b)
        assert (_holder(rig.engine, "scheduler") or ("", 0))[0] == "scheduler-a"
        a.send_signal(signal.SIGTERM)
        assert a.wait(timeout=30) == 0
        assert wait_for(lambda: (_holder(rig.engine, "scheduler") or ("", 0))[0] == "scheduler-b", 20, every=0.1)
        assert b.poll() is None
    finally:
        _stop(procs)
