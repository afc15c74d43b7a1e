"""Two ingest workers share one stream (MQTT v5 shared subscription); one is SIGKILLed mid-stream and restarted
under its own id: every reading is stored once, and each worker received a share.

A shared subscription gives each message to one member of the group, so two workers halve the work instead
of doubling it; what the broker queued for the killed member's persistent session waits for it and comes
back when the same client id reconnects.
"""

from __future__ import annotations

import signal
import subprocess
import time
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import text

from tests.reliability.conftest import Rig, acked, record, wait_for
from tests.spine.workers import spawn

N = 8_000
pytestmark = pytest.mark.slow


def _start(rig: Rig, instance: str) -> subprocess.Popen[bytes]:
    env = rig.env(RESILIENCE_INSTANCE=instance)
    return spawn(["ingest"], env, f"rel-ingest-{instance}", ready="subscribed to", timeout=60)


def _committed_since(rig: Rig, worker: str, since: datetime) -> int | None:
    """The worker's committed-message count from a heartbeat written after ``since`` (None before one)."""
    with rig.engine.connect() as conn:
        row = conn.execute(
            text("SELECT detail FROM worker_heartbeats WHERE worker = :w AND beat_at > :t"), {"w": worker, "t": since}
        ).first()
    return None if row is None else int(row.detail["committed_messages"])


def _db_now(rig: Rig) -> datetime:
    with rig.engine.connect() as conn:
        now: datetime = conn.execute(text("SELECT now()")).scalar_one()
    return now


def test_two_ingest_workers_share_and_survive_a_kill(rig: Rig) -> None:
    sensor = rig.sensor("REL-SO")
    procs: dict[str, subprocess.Popen[bytes]] = {"a": _start(rig, "a"), "b": _start(rig, "b")}
    try:
        pub = rig.publish(sensor, N, start=time.time() - 3600, rate=1500)
        assert wait_for(lambda: rig.stored(sensor)[0] > 1500, 60), "the workers stored nothing"
        procs["a"].send_signal(signal.SIGKILL)
        procs["a"].wait(timeout=10)
        killed_at = rig.stored(sensor)[0]
        sent = acked(pub)
        assert sent == N, f"the broker acknowledged {sent} of {N}"
        assert killed_at < N, "the stream ended before the kill; the test proves nothing"
        waiting = wait_for(lambda: rig.stored(sensor)[0], 5)
        t0 = time.monotonic()
        procs["a"] = _start(rig, "a")  # same instance, same client id: the broker hands back its session's queue
        assert wait_for(lambda: rig.stored(sensor)[0] >= N, 180), f"stored {rig.stored(sensor)} of {N}"
        recovered_s = time.monotonic() - t0
        time.sleep(1.0)  # anything doubled would show up now
        stored, distinct = rig.stored(sensor)
        settled = _db_now(rig)
        shares: dict[str, Any] = {
            i: wait_for(lambda i=i: _committed_since(rig, f"{rig.client_id}-{i}", settled), 20) for i in ("a", "b")
        }
        record(
            {
                "fault": "ingest x2, one SIGKILLed and restarted",
                "load": f"{N} QoS1 readings at 1,500/s",
                "sent": sent,
                "stored": stored,
                "distinct": distinct,
                "stored_while_a_down": waiting,
                "b_committed": shares["b"],
                "a_after_restart": shares["a"],
                "recovery_s": round(recovered_s, 1),
            }
        )
        assert (stored, distinct) == (N, N)
        # b received a share, not the whole stream: the rest went to a (before the kill, or queued for it)
        assert shares["b"] is not None and 0 < shares["b"] < N, shares
        # the restarted a got back what the broker held for its session, or new messages of its own
        assert shares["a"] is not None and shares["a"] > 0, shares
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs.values():
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
