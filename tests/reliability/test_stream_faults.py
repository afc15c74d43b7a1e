"""Kill and starve every part of the stream; count exactly: nothing lost, nothing doubled, all scored once.

Each test: 20,000 numbered QoS 1 readings for a sensor of its own, the ingest worker and the detector
running, one fault injected mid-stream. Afterwards: every reading the broker acknowledged is stored once,
handed to detection once and scored by detection once.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from resilience.ops.local_services import LocalMosquitto, LocalPostgres
from resilience.core.settings import Settings
from tests.reliability.conftest import Rig, acked, record, wait_for

N = 20_000
pytestmark = pytest.mark.slow


def _baseline(rig: Rig) -> tuple[int, int]:
    """Counts before this test, once the running detector has scored every earlier test's readings."""
    settled = wait_for(lambda: (lambda h, s: h == s)(*rig.handed_and_scored()), 120)
    assert settled, f"earlier readings still unscored (handed, scored) = {rig.handed_and_scored()}"
    return rig.handed_and_scored()


def _settle(rig: Rig, sensor: str, before: tuple[int, int], *, timeout: float = 180) -> dict[str, int]:
    """Wait until all N readings are stored and scored; the exact counts."""
    wait_for(lambda: rig.stored(sensor)[0] >= N, timeout)
    wait_for(lambda: rig.handed_and_scored()[1] - before[1] >= rig.stored(sensor)[0], 60)
    time.sleep(1.0)  # anything doubled would show up now
    stored, distinct = rig.stored(sensor)
    handed, scored = rig.handed_and_scored()
    return {"stored": stored, "distinct": distinct, "handed": handed - before[0], "scored": scored - before[1]}


def _stream(rig: Rig, prefix: str, *, rate: float = 0.0) -> tuple[str, tuple[int, int], subprocess.Popen[str]]:
    """A sensor of its own, the counts before, ingest and detector running, and N readings on their way."""
    sensor = rig.sensor(prefix)
    rig.start("detector")  # first: it scores what an earlier test left, so the baseline is exact
    before = _baseline(rig)
    rig.start("ingest")
    return sensor, before, rig.publish(sensor, N, start=time.time() - 3600, rate=rate)


def _assert_exact(sent: int, counts: dict[str, int]) -> None:
    assert sent == N, f"the broker acknowledged {sent} of {N}"
    assert counts == {"stored": N, "distinct": N, "handed": N, "scored": N}, counts


def test_ingest_worker_sigkill(rig: Rig) -> None:
    sensor, before, pub = _stream(rig, "REL-IK")
    assert wait_for(lambda: rig.stored(sensor)[0] > 2000, 60), "worker stored nothing"
    rig.kill("ingest")
    killed_at = rig.stored(sensor)[0]
    sent = acked(pub)
    assert killed_at < N, "the worker finished before the kill; the test proves nothing"
    t0 = time.monotonic()
    rig.start("ingest")  # same client id: the broker redelivers the persistent session's queue
    at_restart = rig.stored(sensor)[0]
    wait_for(lambda: rig.stored(sensor)[0] > at_restart, 60, every=0.05)
    resumed_s = time.monotonic() - t0  # the process started, connected and stored again
    counts = _settle(rig, sensor, before)
    record(
        {
            "fault": "ingest worker SIGKILL",
            "load": f"{N} QoS1 readings",
            "sent": sent,
            **counts,
            "resumed_s": round(resumed_s, 2),
            "recovery_s": round(time.monotonic() - t0, 1),
        }
    )
    _assert_exact(sent, counts)


def test_detector_sigkill(rig: Rig) -> None:
    sensor, before, pub = _stream(rig, "REL-DK", rate=4000)
    assert wait_for(lambda: rig.handed_and_scored()[1] - before[1] > 3000, 60), "detector scored nothing"
    rig.kill("detector")
    sent = acked(pub)
    t0 = time.monotonic()
    at_restart = rig.handed_and_scored()[1]
    rig.start("detector")  # restores its snapshot, replays to its cursor silently, then goes on
    wait_for(lambda: rig.handed_and_scored()[1] > at_restart, 60, every=0.05)
    resumed_s = time.monotonic() - t0  # the process started, restored, replayed and scored again
    counts = _settle(rig, sensor, before)
    record(
        {
            "fault": "detector SIGKILL",
            "load": f"{N} QoS1 readings at 4,000/s",
            "sent": sent,
            **counts,
            "resumed_s": round(resumed_s, 2),
            "recovery_s": round(time.monotonic() - t0, 1),
        }
    )
    _assert_exact(sent, counts)


def test_postgres_stopped_30s(rig: Rig, services: Settings, api_client) -> None:  # type: ignore[no-untyped-def]
    sensor, before, pub = _stream(rig, "REL-PG", rate=1000)
    assert wait_for(lambda: rig.stored(sensor)[0] > 2000, 60)
    pg = LocalPostgres(services)
    pg.stop()
    try:
        time.sleep(3)
        ready = api_client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["database"].startswith("error")
        time.sleep(27)
        assert all(p.poll() is None for p in rig.procs.values()), "a worker died while the database was down"
    finally:
        pg.start()
    t0 = time.monotonic()
    sent = acked(pub)
    counts = _settle(rig, sensor, before)
    record(
        {
            "fault": "PostgreSQL stopped 30 s",
            "load": f"{N} QoS1 readings at 1,000/s",
            "sent": sent,
            **counts,
            "recovery_s": round(time.monotonic() - t0, 1),
        }
    )
    _assert_exact(sent, counts)


def test_mosquitto_restarted(rig: Rig, services: Settings) -> None:
    sensor, before, pub = _stream(rig, "REL-MQ", rate=2000)
    assert wait_for(lambda: rig.stored(sensor)[0] > 2000, 60)
    broker = LocalMosquitto(services)
    broker.stop()
    time.sleep(2)
    broker.start()
    t0 = time.monotonic()
    sent = acked(pub)
    counts = _settle(rig, sensor, before)
    record(
        {
            "fault": "Mosquitto restarted",
            "load": f"{N} QoS1 readings at 2,000/s",
            "sent": sent,
            **counts,
            "recovery_s": round(time.monotonic() - t0, 1),
        }
    )
    assert all(p.poll() is None for p in rig.procs.values()), "a worker exited when the broker restarted"
    _assert_exact(sent, counts)
