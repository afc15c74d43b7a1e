"""SIGKILL the detector with a city of 100,000 sensors registered and scored: it recovers from its parted
snapshot, and every reading is scored once, by the cursor's count and by the detectors' own state.

The registry is bulk-imported (COPY); readings go straight into the hand-off log, as the ingest pipeline
writes it. After the kill and the recovery, the state the detector saved for one part of the sensors
(~1,600 of them) must equal that of a fresh engine fed each of their readings once: a reading lost or
scored twice would show in a window, a count or a baseline.
"""

from __future__ import annotations

import random
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from resilience.api.registry_files import parse_csv
from resilience.api.registry_import import import_files
from resilience.bench.registry_import_bench import city_csv
from resilience.detection import state_parts
from resilience.detection.scoring import DetectionEngine
from resilience.core.domain import Reading
from resilience.core.events import InMemoryEventBus
from resilience.core.settings import Settings
from resilience.store import handoff
from resilience.store.cursors import Position
from resilience.store.db import make_engine
from resilience.store.registry_snapshot import registry_cache
from resilience.store.state_parts import load_part
from resilience.workers.catalogue import catalogue_from
from resilience.workers.detector_worker import SNAPSHOT_NAME
from tests.conftest import fresh_database
from tests.reliability.conftest import wait_for
from tests.spine.workers import spawn, stop_processes, worker_env

pytestmark = pytest.mark.slow
N = 100_000
T0 = datetime(2026, 3, 2, tzinfo=UTC)
CHECKED_PART = 0


@pytest.fixture()
def city(services: Settings) -> Iterator[tuple[Engine, str, list[str]]]:
    with fresh_database(services, "dstate") as url:
        engine = make_engine(url)
        files = city_csv(N, prefix="DS-")
        import_files(engine, [parse_csv(d, entity=e, source=f"{e}.csv") for e, d in files.items()], actor="test")
        sensors = sorted(r["id"] for r in registry_cache(engine, max_age_s=60).current().sensors)
        try:
            yield engine, url, sensors
        finally:
            engine.dispose()


def _readings(sensors: list[str], minute: int) -> list[Reading]:
    rnd = random.Random(minute)
    return [Reading(sid, T0 + timedelta(minutes=minute), 10.0 + rnd.random()) for sid in sensors]


def _hand_off(engine: Engine, readings: list[Reading]) -> None:
    for i in range(0, len(readings), 25_000):
        with engine.begin() as conn:
            for j in range(i, min(i + 25_000, len(readings)), 500):
                handoff.hand_off(conn, readings[j : j + 500], transport="test", shards=1)


def _counts(engine: Engine) -> tuple[int, int, int]:
    """Readings handed off, readings the detector counted as scored, and the position its snapshot matches."""
    with engine.connect() as conn:
        handed = conn.execute(text("SELECT coalesce(sum(n), 0) FROM reading_batches")).scalar_one()
        scored = conn.execute(
            text("SELECT coalesce(sum(processed), 0) FROM event_cursors WHERE consumer LIKE 'detector/%'")
        ).scalar_one()
        saved = conn.execute(
            text("SELECT (state->'positions'->>'0')::bigint FROM detector_snapshots WHERE name = :n"),
            {"n": SNAPSHOT_NAME},
        ).scalar()
        cursor = conn.execute(
            text("SELECT last_seq FROM event_cursors WHERE consumer = :c"), {"c": handoff.consumer_name(0)}
        ).scalar()
    return int(handed), int(scored), int(saved is not None and saved == cursor)


def _reference(engine: Engine, sensors: set[str]) -> DetectionEngine:
    """A fresh engine fed each handed-off reading of ``sensors`` once, in hand-off order."""
    catalogue = {
        k: v for k, v in catalogue_from(registry_cache(engine, max_age_s=60).current()).items() if k in sensors
    }
    ref = DetectionEngine(catalogue, InMemoryEventBus())
    pos = Position()
    while True:
        with engine.connect() as conn:
            batches = handoff.read_batches(conn, 0, pos, limit=200)
        if not batches:
            return ref
        ref.process([r for b in batches for r in b.readings if r.sensor_id in sensors])
        pos = batches[-1].position


def test_detector_sigkill_with_a_city_registered(city: tuple[Engine, str, list[str]]) -> None:
    engine, url, sensors = city
    env = worker_env(url, RESILIENCE_DETECTOR_SNAPSHOT_S="15")
    _hand_off(engine, _readings(sensors, 0) + _readings(sensors, 1))
    det = spawn(["detector"], env, "dstate-detector", ready="subscribed to", timeout=120)
    try:
        assert wait_for(lambda: _counts(engine)[1] == 2 * N, 300), f"first readings not scored: {_counts(engine)}"
        assert wait_for(lambda: _counts(engine)[2], 120), "no snapshot of the scored city"
        _hand_off(engine, _readings(sensors, 2) + _readings(sensors, 3))
        assert wait_for(lambda: _counts(engine)[1] > 2 * N + 20_000, 300), "the detector did not go on"
        det.send_signal(signal.SIGKILL)
        det.wait(timeout=30)
        killed_at = _counts(engine)[1]
        assert killed_at < 4 * N, "the detector finished before the kill; the test proves nothing"
        det = spawn(["detector"], env, "dstate-detector", ready="subscribed to", timeout=120)
        assert wait_for(lambda: _counts(engine)[1] >= 4 * N, 300), f"not recovered: {_counts(engine)}"
        assert wait_for(lambda: _counts(engine)[2], 120), "no snapshot after the recovery"
    finally:
        stop_processes([det], timeout=30)
    handed, scored, _ = _counts(engine)
    assert (handed, scored) == (4 * N, 4 * N), "every reading scored once by the cursor's count"
    checked = {sid for sid in sensors if state_parts.part_of(sid) == CHECKED_PART}
    with engine.connect() as conn:
        data = load_part(conn, SNAPSHOT_NAME, CHECKED_PART)
    assert data is not None
    saved = dict(state_parts.decode(data, compressed=False))
    ref = _reference(engine, checked)
    assert saved.keys() == checked == ref.ensembles.keys()
    different = [sid for sid in sorted(checked) if saved[sid] != ref.ensembles[sid].compact()]
    assert different == [], f"{len(different)} of {len(checked)} sensors' state differs, e.g. {different[:3]}"
