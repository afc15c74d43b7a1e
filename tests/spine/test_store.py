"""The time-series store on the native path: partitions on demand, retention, incremental rollups,
and the same bucketed answers from rollups as from raw rows. The TimescaleDB path runs where the
extension is installed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text

from resilience.core.domain import Reading
from resilience.runtime.scheduler_process import maintain_store
from resilience.core.settings import get_settings
from resilience.store.readings import query_bucketed, write_readings
from resilience.store.timeseries import NativeBackend, TimescaleBackend, get_backend, timescale_available


def test_backend_recorded_by_migration(db_engine):
    with db_engine.connect() as conn:
        backend = get_backend(conn)
        expected = "timescaledb" if timescale_available(conn) else "native"
    assert backend.name == expected


def test_rollups_match_raw_and_late_data_is_folded_in(db_engine, registry):
    backend = NativeBackend()
    with db_engine.begin() as conn:  # a sensor of its own: no other test writes into its hour
        conn.execute(
            text(
                "INSERT INTO sensors (id, asset_id, utility_id, kind, unit, expected_interval_s) "
                "VALUES ('ROLL-1', 'A-MAIN', 'waterco', 'water_pressure', 'MPa', 10) ON CONFLICT DO NOTHING"
            )
        )
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)  # within the lookback
    rows = [Reading("ROLL-1", base + timedelta(seconds=10 * i), 0.3 + (i % 7) / 100) for i in range(360)]  # 1 h
    with db_engine.begin() as conn:
        assert write_readings(conn, rows, backend) == 360
        assert write_readings(conn, rows[:50], backend) == 0  # replay: nothing twice
    maintain_store(db_engine, get_settings())
    start, end = base, base + timedelta(hours=1)
    with db_engine.connect() as conn:
        n1m = conn.execute(
            text("SELECT count(*) FROM readings_1m WHERE sensor_id='ROLL-1' AND bucket >= :a AND bucket < :b"),
            {"a": start, "b": end},
        ).scalar_one()
        assert n1m == 60
        rolled, source = query_bucketed(
            conn, sensor_id="ROLL-1", start=start, end=end, bucket="5m", agg="avg", backend=backend
        )
    assert source == "readings_1m" and len(rolled) == 12
    for i, row in enumerate(rolled):
        chunk = [r.value for r in rows[i * 30 : (i + 1) * 30]]
        assert row["value"] == pytest.approx(sum(chunk) / len(chunk)) and row["n"] == 30
    # a late reading inside the lookback window changes its bucket after the next maintenance run
    late = Reading("ROLL-1", base + timedelta(seconds=5), 9.0)
    with db_engine.begin() as conn:
        write_readings(conn, [late], backend)
    maintain_store(db_engine, get_settings())
    with db_engine.connect() as conn:
        first = query_bucketed(conn, sensor_id="ROLL-1", start=start, end=end, bucket="1m", agg="max", backend=backend)[
            0
        ][0]
    assert first["value"] == 9.0 and first["n"] == 7


def test_partitions_created_on_demand_and_dropped_past_retention(db_engine, registry):
    backend = NativeBackend(retention_days=400)
    old_day = date(2020, 1, 1)
    with db_engine.begin() as conn:
        write_readings(conn, [Reading("P-2", datetime(2020, 1, 1, 12, tzinfo=UTC), 0.3)], backend)
        assert conn.execute(text("SELECT to_regclass('readings_p20200101')")).scalar() is not None
    with db_engine.begin() as conn:
        dropped = backend.apply_retention(conn, datetime.now(UTC))
        assert dropped >= 1
        assert conn.execute(text("SELECT to_regclass('readings_p20200101')")).scalar() is None
        today = NativeBackend.partition_name("readings", datetime.now(UTC).date())
        assert conn.execute(text("SELECT to_regclass(:p)"), {"p": today}).scalar() is not None
        ahead = NativeBackend.partition_name("readings", datetime.now(UTC).date() + timedelta(days=3))
        assert conn.execute(text("SELECT to_regclass(:p)"), {"p": ahead}).scalar() is not None
    assert old_day < datetime.now(UTC).date()


def test_timescale_path_when_extension_installed(db_engine):
    with db_engine.connect() as conn:
        if not timescale_available(conn):
            pytest.skip("timescaledb is not in pg_available_extensions on this machine (native path tested above)")
        backend = get_backend(conn)
    assert isinstance(backend, TimescaleBackend)
    with db_engine.connect() as conn:
        jobs = conn.execute(text("SELECT proc_name FROM timescaledb_information.jobs")).scalars().all()
    assert {"policy_compression", "policy_retention", "policy_refresh_continuous_aggregate"} <= set(jobs)
