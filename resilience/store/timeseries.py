"""One small interface over the two ways of storing time series.

* ``TimescaleBackend``: used when ``timescaledb`` is in ``pg_available_extensions``; hypertables,
  compression and retention policies, continuous aggregates (1 min, and 1 h on top of it) with real-time
  aggregation, all run by TimescaleDB's own job scheduler.
* ``NativeBackend``: plain PostgreSQL; declarative range partitions per day, created ahead (and on demand
  by the writer), dropped past retention, and rollup tables (1 min, 1 h) maintained incrementally by
  ``maintain()`` which the APScheduler job calls every minute.

Both expose the rollups with the same columns ``(sensor_id, bucket, n, sum, min, max, last)`` under the
same names (``readings_1m``, ``readings_1h``), so queries never ask which backend runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from sqlalchemy import Connection, text

from resilience.store.schema import TIMESERIES_TABLES

log = logging.getLogger(__name__)

ROLLUPS = {"readings_1m": timedelta(minutes=1), "readings_1h": timedelta(hours=1)}
ROLLUP_LOOKBACK = timedelta(hours=2)  # late readings within this window are folded into rollups


def _pk(table: str) -> str:
    keys = TIMESERIES_TABLES[table][0]
    cols = [part.strip().split()[0] for part in keys.split(",")]
    return ", ".join([*cols, "ts"])


class TimeSeriesBackend(Protocol):
    name: str

    def create_tables(self, conn: Connection) -> None:
        """Create the time-series tables, their rollups and policies (migrations call this)."""

    def drop_tables(self, conn: Connection) -> None: ...

    def maintain(self, conn: Connection, now: datetime) -> dict[str, int]:
        """Periodic upkeep: partitions ahead, retention, rollups. Returns counts for logs/metrics."""

    def ensure_partitions(self, conn: Connection, table: str, days: set[date]) -> None:
        """Make sure rows for these days have somewhere to go (no-op on TimescaleDB)."""

    def rollup_watermark(self, conn: Connection) -> datetime | None:
        """Rollups are complete before this instant; None when the backend aggregates in real time."""


def timescale_available(conn: Connection) -> bool:
    return bool(conn.execute(text("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")).scalar())


def get_backend(conn: Connection, *, retention_days: int = 400, partitions_ahead: int = 3) -> TimeSeriesBackend:
    """The backend this database supports (the choice is recorded by the first migration)."""
    recorded = conn.execute(text("SELECT to_regclass('public.timeseries_backend')")).scalar()
    if recorded:
        name = conn.execute(text("SELECT name FROM timeseries_backend")).scalar()
    else:
        name = "timescaledb" if timescale_available(conn) else "native"
    cls = TimescaleBackend if name == "timescaledb" else NativeBackend
    return cls(retention_days=retention_days, partitions_ahead=partitions_ahead)


def _rollup_ddl(name: str) -> str:
    return (f"CREATE TABLE IF NOT EXISTS {name} (sensor_id text NOT NULL, bucket timestamptz NOT NULL, "
            "n bigint NOT NULL, sum double precision NOT NULL, min double precision NOT NULL, "
            "max double precision NOT NULL, last double precision NOT NULL, last_ts timestamptz NOT NULL, "
            "PRIMARY KEY (sensor_id, bucket))")


@dataclass
class NativeBackend:
    retention_days: int = 400
    partitions_ahead: int = 3
    name: str = "native"

    def __post_init__(self) -> None:
        self._known: set[str] = set()
        self._has_definer_ddl: bool | None = None

    def create_tables(self, conn: Connection) -> None:
        for table, (keys, values) in TIMESERIES_TABLES.items():
            conn.execute(text(f"CREATE TABLE IF NOT EXISTS {table} ({keys}, ts timestamptz NOT NULL, {values}, "
                              f"PRIMARY KEY ({_pk(table)})) PARTITION BY RANGE (ts)"))
        for name in ROLLUPS:
            conn.execute(text(_rollup_ddl(name)))
            conn.execute(text("INSERT INTO rollup_state (name, watermark) VALUES (:n, :w) ON CONFLICT DO NOTHING"),
                         {"n": name, "w": datetime(1970, 1, 1, tzinfo=UTC)})
        today = datetime.now(UTC).date()
        for table in TIMESERIES_TABLES:
            self.ensure_partitions(conn, table, {today + timedelta(days=i) for i in range(-1, self.partitions_ahead + 1)})

    def drop_tables(self, conn: Connection) -> None:
        for name in [*ROLLUPS, *TIMESERIES_TABLES]:
            conn.execute(text(f"DROP TABLE IF EXISTS {name} CASCADE"))

    @staticmethod
    def partition_name(table: str, day: date) -> str:
        return f"{table}_p{day:%Y%m%d}"

    def _definer_ddl(self, conn: Connection) -> bool:
        """Whether this database has the owner's partition functions (migration 0006): the services' role
        may create and drop day partitions only through them; before 0006 the migrating owner does it."""
        if self._has_definer_ddl is None:
            self._has_definer_ddl = bool(conn.execute(
                text("SELECT to_regprocedure('ensure_day_partition(text, date)')")).scalar())
        return self._has_definer_ddl

    def ensure_partitions(self, conn: Connection, table: str, days: set[date]) -> None:
        for day in sorted(days):
            part = self.partition_name(table, day)
            if part in self._known:
                continue
            if self._definer_ddl(conn):
                conn.execute(text("SELECT ensure_day_partition(:t, :d)"), {"t": table, "d": day})
            elif not conn.execute(text("SELECT to_regclass(:p)"), {"p": part}).scalar():
                with conn.begin_nested():  # a concurrent writer may create the same partition first
                    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:p))"), {"p": part})
                    if not conn.execute(text("SELECT to_regclass(:p)"), {"p": part}).scalar():
                        start, end = day.isoformat(), (day + timedelta(days=1)).isoformat()
                        conn.execute(text(f"CREATE TABLE {part} PARTITION OF {table} "
                                          f"FOR VALUES FROM ('{start} 00:00:00+00') TO ('{end} 00:00:00+00')"))
            self._known.add(part)

    def _partitions(self, conn: Connection, table: str) -> list[str]:
        rows = conn.execute(text("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                                 "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :t ORDER BY 1"),
                            {"t": table}).scalars()
        return list(rows)

    def apply_retention(self, conn: Connection, now: datetime) -> int:
        cutoff = (now - timedelta(days=self.retention_days)).date()
        dropped = 0
        for table in TIMESERIES_TABLES:
            for part in self._partitions(conn, table):
                day = datetime.strptime(part.rsplit("_p", 1)[1], "%Y%m%d").date()
                if day + timedelta(days=1) <= cutoff:
                    if self._definer_ddl(conn):
                        conn.execute(text("SELECT drop_day_partition(:p)"), {"p": part})
                    else:
                        conn.execute(text(f"DROP TABLE IF EXISTS {part}"))
                    self._known.discard(part)
                    dropped += 1
        for name, width in ROLLUPS.items():
            conn.execute(text(f"DELETE FROM {name} WHERE bucket < :c"),
                         {"c": datetime.combine(cutoff, datetime.min.time(), UTC) - width})
        return dropped

    def refresh_rollups(self, conn: Connection, now: datetime) -> int:
        """Fold complete buckets since the watermark (minus a lookback for late data) into the rollups."""
        total = 0
        for name, width in ROLLUPS.items():
            watermark = conn.execute(text("SELECT watermark FROM rollup_state WHERE name = :n FOR UPDATE"),
                                     {"n": name}).scalar_one()
            secs = int(width.total_seconds())
            upto = datetime.fromtimestamp((int(now.timestamp()) // secs) * secs, UTC)
            start = max(watermark - ROLLUP_LOOKBACK, datetime(1970, 1, 1, tzinfo=UTC))
            if watermark.year == 1970:  # first run: start from the oldest reading
                oldest = conn.execute(text("SELECT min(ts) FROM readings")).scalar()
                if oldest is None:
                    conn.execute(text("UPDATE rollup_state SET watermark = :w WHERE name = :n"), {"w": upto, "n": name})
                    continue
                start = oldest
            if upto <= start:
                continue
            res = conn.execute(text(f"""
                INSERT INTO {name} (sensor_id, bucket, n, sum, min, max, last, last_ts)
                SELECT sensor_id, date_bin(make_interval(secs => :secs), ts, TIMESTAMPTZ '2000-01-01') AS bucket,
                       count(*), sum(value), min(value), max(value),
                       (array_agg(value ORDER BY ts DESC))[1], max(ts)
                FROM readings WHERE ts >= date_bin(make_interval(secs => :secs), :start, TIMESTAMPTZ '2000-01-01')
                  AND ts < :upto
                GROUP BY 1, 2
                ON CONFLICT (sensor_id, bucket) DO UPDATE SET n = EXCLUDED.n, sum = EXCLUDED.sum,
                  min = EXCLUDED.min, max = EXCLUDED.max, last = EXCLUDED.last, last_ts = EXCLUDED.last_ts
                """), {"secs": secs, "start": start, "upto": upto})
            total += res.rowcount or 0
            conn.execute(text("UPDATE rollup_state SET watermark = :w WHERE name = :n"), {"w": upto, "n": name})
        return total

    def maintain(self, conn: Connection, now: datetime) -> dict[str, int]:
        today = now.date()
        for table in TIMESERIES_TABLES:
            self.ensure_partitions(conn, table, {today + timedelta(days=i) for i in range(0, self.partitions_ahead + 1)})
        return {"dropped_partitions": self.apply_retention(conn, now), "rollup_rows": self.refresh_rollups(conn, now)}

    def rollup_watermark(self, conn: Connection) -> datetime | None:
        return conn.execute(text("SELECT min(watermark) FROM rollup_state")).scalar()


@dataclass
class TimescaleBackend:
    retention_days: int = 400
    partitions_ahead: int = 3
    name: str = "timescaledb"
    compress_after: str = "7 days"

    def create_tables(self, conn: Connection) -> None:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS timescaledb"))
        for table, (keys, values) in TIMESERIES_TABLES.items():
            segment = keys.split()[0]
            conn.execute(text(f"CREATE TABLE IF NOT EXISTS {table} ({keys}, ts timestamptz NOT NULL, {values}, "
                              f"PRIMARY KEY ({_pk(table)}))"))
            conn.execute(text(f"SELECT create_hypertable('{table}', 'ts', chunk_time_interval => INTERVAL '1 day', "
                              "if_not_exists => TRUE)"))
            conn.execute(text(f"ALTER TABLE {table} SET (timescaledb.compress, "
                              f"timescaledb.compress_segmentby = '{segment}', timescaledb.compress_orderby = 'ts DESC')"))
            conn.execute(text(f"SELECT add_compression_policy('{table}', INTERVAL '{self.compress_after}', "
                              "if_not_exists => TRUE)"))
            conn.execute(text(f"SELECT add_retention_policy('{table}', INTERVAL '{self.retention_days} days', "
                              "if_not_exists => TRUE)"))
        conn.execute(text("""
            CREATE MATERIALIZED VIEW IF NOT EXISTS readings_1m WITH (timescaledb.continuous,
              timescaledb.materialized_only = false) AS
            SELECT sensor_id, time_bucket(INTERVAL '1 minute', ts) AS bucket, count(*) AS n, sum(value) AS sum,
                   min(value) AS min, max(value) AS max, last(value, ts) AS last, max(ts) AS last_ts
            FROM readings GROUP BY sensor_id, time_bucket(INTERVAL '1 minute', ts) WITH NO DATA"""))
        conn.execute(text("""
            CREATE MATERIALIZED VIEW IF NOT EXISTS readings_1h WITH (timescaledb.continuous,
              timescaledb.materialized_only = false) AS
            SELECT sensor_id, time_bucket(INTERVAL '1 hour', bucket) AS bucket, sum(n)::bigint AS n, sum(sum) AS sum,
                   min(min) AS min, max(max) AS max, last(last, last_ts) AS last, max(last_ts) AS last_ts
            FROM readings_1m GROUP BY sensor_id, time_bucket(INTERVAL '1 hour', bucket) WITH NO DATA"""))
        for view, offset, interval in [("readings_1m", "2 hours", "1 minute"), ("readings_1h", "3 days", "1 hour")]:
            conn.execute(text(f"SELECT add_continuous_aggregate_policy('{view}', start_offset => INTERVAL '{offset}', "
                              f"end_offset => INTERVAL '{interval}', schedule_interval => INTERVAL '{interval}', "
                              "if_not_exists => TRUE)"))
            conn.execute(text(f"SELECT add_retention_policy('{view}', INTERVAL '{self.retention_days} days', "
                              "if_not_exists => TRUE)"))

    def drop_tables(self, conn: Connection) -> None:
        for view in ("readings_1h", "readings_1m"):
            conn.execute(text(f"DROP MATERIALIZED VIEW IF EXISTS {view} CASCADE"))
        for table in TIMESERIES_TABLES:
            conn.execute(text(f"DROP TABLE IF EXISTS {table} CASCADE"))

    def ensure_partitions(self, conn: Connection, table: str, days: set[date]) -> None:
        return None  # hypertables create chunks on insert

    def maintain(self, conn: Connection, now: datetime) -> dict[str, int]:
        return {}  # compression, retention and aggregate refresh are TimescaleDB jobs

    def rollup_watermark(self, conn: Connection) -> datetime | None:
        return None  # real-time aggregates already include the newest raw rows
