"""One registry cache and one refresh policy for ingest, detection and risk.

First the policy on a loader that counts its reads (stale after ``max_age_s``; a miss reads again at
most once per ``miss_interval_s``); then, on the real database, a sensor and an asset registered while
the workers run: ingest knows the sensor at its first reading, the detector scores it, and the risk
model assesses the new asset without a restart.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, delete, insert, select

from ingest.sensor_cache import SensorRegistry
from resilience.core.domain import Reading
from resilience.core.registry_cache import RegistryCache, RegistrySnapshot
from resilience.core.settings import get_settings
from resilience.store.registry_snapshot import registry_cache
from resilience.store.schema import assets, risk_current, sensors
from resilience.workers.detector_worker import DetectionWorker
from resilience.workers.engine_worker import RiskWorker


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def sensor_row(sid: str, active: bool = True) -> dict[str, Any]:
    return {
        "id": sid,
        "asset_id": "A",
        "utility_id": "u",
        "kind": "methane",
        "unit": "percent_lel",
        "expected_interval_s": 60.0,
        "thresholds": None,
        "detector_overrides": None,
        "active": active,
    }


@pytest.fixture()
def fake() -> tuple[RegistryCache, list[dict[str, Any]], Clock]:
    rows = [sensor_row("S1")]
    clock = Clock()
    cache = RegistryCache(
        lambda: RegistrySnapshot.of(sensors=[dict(r) for r in rows]), max_age_s=30.0, miss_interval_s=1.0, clock=clock
    )
    return cache, rows, clock


def test_the_registry_is_read_once_until_it_is_stale(fake: tuple[RegistryCache, list[dict[str, Any]], Clock]) -> None:
    cache, rows, clock = fake
    first = cache.current()
    for _ in range(100):
        assert cache.current() is first
    assert cache.reads == 1
    rows.append(sensor_row("S2"))
    clock.t += 29.0
    assert cache.current() is first  # not stale yet: the new sensor is not seen by a plain read
    clock.t += 2.0
    assert "S2" in cache.current().sensors_by_id and cache.reads == 2


def test_a_miss_reads_again_at_most_once_a_second(fake: tuple[RegistryCache, list[dict[str, Any]], Clock]) -> None:
    cache, rows, clock = fake
    cache.current()
    clock.t += 1.5
    rows.append(sensor_row("NEW"))
    assert cache.sensor("NEW") is not None and cache.reads == 2  # registered a moment ago: found at once
    for i in range(1000):  # a flood of unknown ids within one second costs no further read
        assert cache.sensor(f"junk-{i}") is None
    assert cache.reads == 2
    clock.t += 1.1
    assert cache.sensor("junk-x") is None and cache.reads == 3


def test_refresh_says_whether_anything_changed(fake: tuple[RegistryCache, list[dict[str, Any]], Clock]) -> None:
    cache, rows, _ = fake
    before = cache.current().digest
    assert cache.refresh() is False
    rows[0]["active"] = False
    assert cache.refresh() is True and cache.current().digest != before
    with pytest.raises(TypeError):
        cache.current().sensors_by_id["S9"] = sensor_row("S9")  # type: ignore[index]  # read-only on purpose


@pytest.fixture()
def late_asset(db_engine: Engine, registry: Any) -> Any:
    """An asset and a sensor registered after the workers started; removed afterwards."""
    tag = uuid.uuid4().hex[:6]
    asset_id, sensor_id = f"A-LATE-{tag}", f"CH4-LATE-{tag}"

    def register() -> None:
        with db_engine.begin() as conn:
            conn.execute(
                insert(assets).values(
                    id=asset_id,
                    name="Late culvert",
                    kind="drainage_culvert",
                    district_id="D1-SPINE",
                    utility_id="gasco",
                    lat=36.07,
                    lon=120.38,
                )
            )
            conn.execute(
                insert(sensors).values(
                    id=sensor_id,
                    asset_id=asset_id,
                    utility_id="gasco",
                    kind="methane",
                    unit="percent_lel",
                    expected_interval_s=60,
                )
            )

    yield asset_id, sensor_id, register
    with db_engine.begin() as conn:
        conn.execute(delete(risk_current).where(risk_current.c.scope == f"asset:{asset_id}"))
        conn.execute(delete(sensors).where(sensors.c.id == sensor_id))
        conn.execute(delete(assets).where(assets.c.id == asset_id))


def test_a_sensor_registered_while_running_is_known_scored_and_assessed(db_engine: Engine, late_asset: Any) -> None:
    asset_id, sensor_id, register = late_asset
    ingest = SensorRegistry(db_engine)
    detector = DetectionWorker(db_engine, get_settings())
    risk = RiskWorker(db_engine, registry_cache(db_engine, max_age_s=0.0))
    assert ingest.get(sensor_id) is None and sensor_id not in detector.catalogue
    register()

    info = ingest.get(sensor_id)  # a miss reads again (the last read was over a second ago or never)
    if info is None:  # the miss came within a second of the first read: the next one finds it
        ingest.cache._loaded_at -= 2.0
        info = ingest.get(sensor_id)
    assert info is not None and info.utility_id == "gasco" and info.kind == "methane"

    detector.registry._loaded_at -= 2.0  # as if its last read were over a second ago
    now = datetime.now(UTC)
    with detector.lock:
        events = detector._score(
            [Reading(sensor_id, now - timedelta(minutes=1), 2.0), Reading(sensor_id, now, 60.0)]
        )  # 60 %LEL: past the red limit
    assert sensor_id in detector.catalogue
    assert any(getattr(e, "sensor_id", None) == sensor_id for e in events), events

    risk.recompute()
    assert any(a == asset_id for a, _ in risk.service.current)
    with db_engine.connect() as conn:
        stored = conn.execute(select(risk_current.c.hazard).where(risk_current.c.scope == f"asset:{asset_id}")).all()
    assert stored, "the new asset's risk was not persisted"


def test_a_check_reads_one_number_until_a_write_moves_it(db_engine: Engine, late_asset: Any) -> None:
    """The registry's version (migration 0009's triggers) decides whether the rows are read again."""
    asset_id, sensor_id, register = late_asset
    cache = registry_cache(db_engine, max_age_s=0.0)  # every read checks
    first = cache.current()
    assert first.version is not None and first.digest == first.version
    for _ in range(20):  # stale each time, unchanged each time: only the version is read
        assert cache.current() is first
    assert cache.reads == 1 and cache.probes == 20
    assert cache.changed_since(first.digest) is None

    register()  # two inserts in one transaction
    after_insert = cache.changed_since(first.digest)
    assert after_insert is not None and sensor_id in after_insert.sensors_by_id and cache.reads == 2
    with db_engine.begin() as conn:
        conn.execute(sensors.update().where(sensors.c.id == sensor_id).values(active=False))
    after_update = cache.changed_since(after_insert.digest)
    assert after_update is not None and after_update.sensors_by_id[sensor_id]["active"] is False
    with db_engine.begin() as conn:
        conn.execute(delete(sensors).where(sensors.c.id == sensor_id))
    after_delete = cache.changed_since(after_update.digest)
    assert after_delete is not None and sensor_id not in after_delete.sensors_by_id
    assert cache.reads == 4


def test_a_flood_of_unknown_sensor_ids_reads_no_rows(db_engine: Engine, registry: Any) -> None:
    clock = Clock()
    cache = registry_cache(db_engine, max_age_s=30.0)
    cache._clock = clock
    cache.current()
    for second in range(5):
        clock.t += 1.1
        for i in range(200):
            assert cache.sensor(f"junk-{second}-{i}") is None
    assert cache.reads == 1 and cache.probes == 5  # one version check a second, no registry read
