"""Rollups that are always right (issue 25): readings that arrive late, through the platform's real write
path, reach the aggregates, and a bucketed answer never depends on when its data arrived: before the
refresh it is computed from raw readings, after it from the rollups, the same both times. Every bucket is
compared with aggregates computed from the raw readings in SQL."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, text

from ingest.pipeline import IngestPipeline, Message
from resilience.core.domain import Reading
from resilience.runtime.scheduler_process import maintain_store
from resilience.core.settings import Settings, get_settings
from resilience.store import rollups
from resilience.store.db import alembic_config, make_engine
from resilience.store.readings import insert_new_readings
from resilience.store.timeseries import get_backend
from tests.conftest import fresh_database

DAY, HOUR, MINUTE = timedelta(days=1), timedelta(hours=1), timedelta(minutes=1)
AGGS = ("avg", "count", "min", "max", "last")
RAW = """
    SELECT date_bin(make_interval(secs => :w), ts, TIMESTAMPTZ '2000-01-01') AS bucket, avg(value) AS avg,
           count(*)::float8 AS count, min(value) AS min, max(value) AS max,
           (array_agg(value ORDER BY ts DESC))[1] AS last
    FROM readings WHERE sensor_id = :s AND ts >= :a AND ts < :b GROUP BY 1 ORDER BY 1"""


@pytest.fixture
def sensor(db_engine: Engine, registry: Any, request: pytest.FixtureRequest) -> Iterator[str]:
    """A sensor of the test's own, so no other test's readings fall into its buckets."""
    sid = f"RB-{request.node.name[5:25].upper().replace('_', '-')}"
    with db_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO sensors (id, asset_id, utility_id, kind, unit, expected_interval_s) "
                "VALUES (:s, 'A-MAIN', 'waterco', 'water_pressure', 'MPa', 600) ON CONFLICT DO NOTHING"
            ),
            {"s": sid},
        )
    yield sid


def _ingest(db_engine: Engine, sensor: str, times: list[datetime], value: Any, pack: int = 2000) -> None:
    """Through the platform's write path (what MQTT and HTTP ingest run), in SenML packs."""
    pipeline = IngestPipeline(db_engine, get_settings())
    for i in range(0, len(times), pack):
        chunk = times[i : i + pack]
        body = [{"bn": "", "bt": chunk[0].timestamp(), "n": sensor, "t": 0, "v": value(chunk[0])}]
        body += [{"n": sensor, "t": t.timestamp() - chunk[0].timestamp(), "v": value(t)} for t in chunk[1:]]
        outcome = pipeline.ingest([Message("http", "waterco", json.dumps(body).encode())]).messages[0]
        assert not outcome.rejections and outcome.accepted + outcome.duplicates == len(chunk)


def _refresh_all(db_engine: Engine) -> dict[str, int]:
    """Scheduler runs until nothing is left in the log (each run is bounded; a year takes several)."""
    for _ in range(500):
        result = maintain_store(db_engine, get_settings())
        if result["rollup_ranges_pending"] == 0:
            return result
    raise AssertionError("the rollup log did not drain")


def _raw(db_engine: Engine, sensor: str, start: datetime, end: datetime, width: timedelta) -> list[dict[str, Any]]:
    with db_engine.connect() as conn:
        rows = conn.execute(text(RAW), {"w": int(width.total_seconds()), "s": sensor, "a": start, "b": end}).mappings()
        return [dict(r) for r in rows]


def _check(api_client: Any, db_engine: Engine, sensor: str, start: datetime, end: datetime, bucket: str) -> int:
    """Every bucket of every aggregate the API answers equals the raw aggregate; returns raw_buckets."""
    width = DAY if bucket == "1d" else HOUR
    expected = _raw(db_engine, sensor, start, end, width)
    assert expected
    raw_buckets = set()
    for agg in AGGS:
        params = {"start": start.isoformat(), "end": end.isoformat(), "bucket": bucket, "agg": agg}
        r = api_client.get(f"/api/v1/sensors/{sensor}/readings", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        got = [(datetime.fromisoformat(row["bucket"]), row["value"]) for row in body["data"]]
        assert [b for b, _ in got] == [e["bucket"] for e in expected], agg
        for (b, value), e in zip(got, expected, strict=True):
            assert value == pytest.approx(e[agg]), (agg, b)
        raw_buckets.add(body["raw_buckets"])
    (n,) = raw_buckets
    return int(n)


def _rollups_equal_raw(db_engine: Engine, sensor: str) -> None:
    """The stored rollups themselves, every 1 min and 1 h bucket of the sensor before the level's watermark
    (after it, queries read raw readings), against raw readings."""
    with db_engine.connect() as conn:
        for level in rollups.LEVELS:
            diff = conn.execute(
                text(f"""
                WITH wm AS (SELECT watermark FROM rollup_state WHERE name = '{level.name}'),
                raw AS (
                  SELECT date_bin(make_interval(secs => :w), ts, TIMESTAMPTZ '2000-01-01') AS bucket,
                         count(*) AS n, sum(value) AS sum, min(value) AS min, max(value) AS max,
                         (array_agg(value ORDER BY ts DESC))[1] AS last
                  FROM readings WHERE sensor_id = :s AND ts < (TABLE wm) GROUP BY 1),
                roll AS (SELECT bucket, n, sum, min, max, last FROM {level.name}
                          WHERE sensor_id = :s AND bucket < (TABLE wm))
                SELECT count(*) FROM raw FULL JOIN roll USING (bucket)
                 WHERE raw.n IS DISTINCT FROM roll.n OR abs(raw.sum - roll.sum) > 1e-6
                    OR raw.min IS DISTINCT FROM roll.min OR raw.max IS DISTINCT FROM roll.max
                    OR raw.last IS DISTINCT FROM roll.last"""),
                {"w": int(level.width.total_seconds()), "s": sensor},
            ).scalar_one()
            assert diff == 0, level.name


def _value(t: datetime) -> float:
    return round(0.3 + (int(t.timestamp()) // 600 % 97) / 100, 2)


def test_a_year_back_filled_reaches_every_bucket(api_client: Any, db_engine: Engine, sensor: str) -> None:
    now = datetime.now(UTC)
    today = rollups.floor(now, DAY)
    _ingest(db_engine, sensor, [now - timedelta(minutes=10 * i) for i in range(1, 7)], _value)
    _refresh_all(db_engine)  # the rollups have passed the whole year before its readings come
    today -= DAY  # the year ends a day back: the watermarks have surely passed it, whatever the hour
    start = today - 365 * DAY
    year = [start + timedelta(minutes=10 * i) for i in range(365 * 144)]  # 52,560 readings, 10-minute interval
    _ingest(db_engine, sensor, year, _value)
    with db_engine.connect() as conn:
        assert rollups.pending(conn) >= 365  # logged per sensor and day
    # before the refresh: right, from raw readings
    assert _check(api_client, db_engine, sensor, start, today, "1d") == 365
    with db_engine.begin() as conn:  # a refresh step is bounded: a year is not folded in at once
        assert get_backend(conn).refresh_rollups(conn) > 0
    with db_engine.connect() as conn:
        assert rollups.pending(conn) > 0
    _refresh_all(db_engine)
    # after: the same answers, now from the rollups
    assert _check(api_client, db_engine, sensor, start, today, "1d") == 0
    _rollups_equal_raw(db_engine, sensor)
    # a late hour into a day already refreshed: 5-minute readings between the 10-minute ones
    late_hour = start + 200 * DAY + 13 * HOUR
    _ingest(db_engine, sensor, [late_hour + timedelta(minutes=5 + 10 * i) for i in range(6)], lambda t: 9.5)
    day = rollups.floor(late_hour, DAY)
    assert _check(api_client, db_engine, sensor, day, day + DAY, "1h") == 1  # that hour, from raw
    assert _check(api_client, db_engine, sensor, start, today, "1d") == 1
    _refresh_all(db_engine)
    assert _check(api_client, db_engine, sensor, day, day + DAY, "1h") == 0
    assert _check(api_client, db_engine, sensor, start, today, "1d") == 0
    _rollups_equal_raw(db_engine, sensor)


def test_late_readings_on_many_separate_days_each_reach_their_bucket(
    api_client: Any, db_engine: Engine, sensor: str
) -> None:
    """More separate pending ranges than a query reads one branch each (20 late hours on 20 days, apart):
    each bucket still equals raw before the refresh, and after it."""
    today = rollups.floor(datetime.now(UTC), DAY) - DAY
    start = today - 40 * DAY
    _ingest(db_engine, sensor, [start + timedelta(minutes=30 * i) for i in range(40 * 48)], _value)
    _refresh_all(db_engine)
    late = [start + (2 * d + 1) * DAY + (d % 20) * HOUR + timedelta(minutes=15) for d in range(20)]
    _ingest(db_engine, sensor, late, lambda t: 7.25)
    assert _check(api_client, db_engine, sensor, start, today, "1d") == 20
    assert _check(api_client, db_engine, sensor, start + 3 * DAY, start + 4 * DAY, "1h") == 1
    _refresh_all(db_engine)
    assert _check(api_client, db_engine, sensor, start, today, "1d") == 0
    _rollups_equal_raw(db_engine, sensor)


def test_a_device_back_fills_the_day_after_the_refresh_passed_it(
    api_client: Any, db_engine: Engine, sensor: str
) -> None:
    """The issue's day: 3 live hours refreshed, then 21 buffered hours arrive; 24 hourly buckets."""
    hour = rollups.floor(datetime.now(UTC) - HOUR, HOUR)  # below the 1 h watermark, at any minute of the hour
    start = hour - 24 * HOUR
    live = [start + 21 * HOUR + timedelta(minutes=i) for i in range(180)]
    _ingest(db_engine, sensor, live, lambda t: float(t.minute))
    _refresh_all(db_engine)
    buffered = [start + timedelta(minutes=i) for i in range(21 * 60)]
    _ingest(db_engine, sensor, buffered, lambda t: float(t.hour) + t.minute / 100)
    assert _check(api_client, db_engine, sensor, start, hour, "1h") == 21
    with db_engine.connect() as conn:
        logged = rollups.pending(conn)
    _ingest(db_engine, sensor, buffered[:600], lambda t: -1.0)  # a replay: nothing twice, nothing new logged
    with db_engine.connect() as conn:
        assert rollups.pending(conn) == logged
    _refresh_all(db_engine)
    assert _check(api_client, db_engine, sensor, start, hour, "1h") == 0
    body = api_client.get(
        f"/api/v1/sensors/{sensor}/readings",
        params={"start": start.isoformat(), "end": hour.isoformat(), "bucket": "1h", "agg": "count"},
    ).json()
    assert body["count"] == 24 and all(row["value"] == 60 for row in body["data"])
    _rollups_equal_raw(db_engine, sensor)


def test_a_write_waiting_on_the_threshold_move_logs_its_range(db_engine: Engine, sensor: str) -> None:
    """The race the threshold's lock closes: a writer that finishes while the scheduler moves the
    threshold past its readings sees the new threshold and logs them, so the refresh cannot miss them."""
    _refresh_all(db_engine)
    now = datetime.now(UTC)
    with db_engine.connect() as conn:
        backend = get_backend(conn)
        before = conn.execute(text("SELECT threshold FROM rollup_threshold")).scalar_one()
    reading = Reading(sensor, before + timedelta(seconds=1), 0.5)
    mover = db_engine.connect()
    tx = mover.begin()
    backend.move_threshold(mover, now + timedelta(minutes=5))  # holds the exclusive lock until commit
    errors: list[BaseException] = []

    def write() -> None:
        try:
            with db_engine.begin() as conn:
                insert_new_readings(conn, [reading], backend)
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread below
            errors.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        _wait_for_a_waiting_advisory_lock(db_engine)
        assert reading.ts >= before  # the threshold it would read without the lock: nothing logged
    finally:
        tx.commit()
        mover.close()
    writer.join(timeout=120)
    assert not writer.is_alive() and not errors
    with db_engine.connect() as conn:
        logged = conn.execute(
            text("SELECT count(*) FROM rollup_invalidations WHERE sensor_id = :s AND lo = :t"),
            {"s": sensor, "t": reading.ts},
        ).scalar_one()
    assert logged == 1
    _refresh_all(db_engine)
    _rollups_equal_raw(db_engine, sensor)


def _wait_for_a_waiting_advisory_lock(db_engine: Engine) -> None:
    for _ in range(600):
        with db_engine.connect() as conn:
            waiting = conn.execute(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = :k"),
                {"k": rollups.THRESHOLD_LOCK},
            ).scalar_one()
        if waiting:
            return
        time.sleep(0.1)
    raise AssertionError("the writer never waited on the threshold lock")


def test_the_upgrade_logs_what_the_old_rollups_may_lack(services: Settings) -> None:
    """Before migration 0011 the rollups were refreshed 2 hours back only: the upgrade logs every sensor-day
    already passed, so the first refresh rebuilds them from raw readings."""
    with fresh_database(services, "rollmig") as url:
        engine = make_engine(url)
        try:
            command.downgrade(alembic_config(url), "0009_registry_version")
            day = rollups.floor(datetime.now(UTC), DAY) - 30 * DAY
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO utilities (id, name) VALUES ('u', 'U')"))
                conn.execute(text("INSERT INTO districts (id, name, population) VALUES ('d', 'D', 1)"))
                conn.execute(
                    text(
                        "INSERT INTO assets (id, name, kind, district_id, utility_id, lat, lon) "
                        "VALUES ('a', 'A', 'water_main', 'd', 'u', 36, 120)"
                    )
                )
                conn.execute(
                    text(
                        "INSERT INTO sensors (id, asset_id, utility_id, kind, unit, expected_interval_s) "
                        "VALUES ('S', 'a', 'u', 'water_pressure', 'MPa', 60)"
                    )
                )
                for d in (day, day + DAY):
                    conn.execute(text("SELECT ensure_day_partition('readings', :d)"), {"d": d.date()})
                conn.execute(
                    text(
                        "INSERT INTO readings (sensor_id, ts, value) "
                        "SELECT 'S', t, extract(minute FROM t) FROM generate_series(:a, :b, interval '1 minute') t"
                    ),
                    {"a": day + 10 * HOUR, "b": day + 30 * HOUR},
                )
                conn.execute(
                    text("UPDATE rollup_state SET watermark = :w"), {"w": rollups.floor(datetime.now(UTC), HOUR)}
                )
            command.upgrade(alembic_config(url), "heads")
            with engine.connect() as conn:
                logged = conn.execute(text("SELECT lo, hi FROM rollup_invalidations ORDER BY lo")).all()
            assert [tuple(r) for r in logged] == [(day + 10 * HOUR, day + DAY - MINUTE), (day + DAY, day + 30 * HOUR)]
            _refresh_all(engine)
            _rollups_equal_raw(engine, "S")
        finally:
            engine.dispose()
