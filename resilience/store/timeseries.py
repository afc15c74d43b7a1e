"""One small interface over the two ways of storing time series.

* ``TimescaleBackend``: used when ``timescaledb`` is in ``pg_available_extensions``; hypertables,
  compression and retention policies, continuous aggregates (1 min, and 1 h on top of it) with real-time
  aggregation, all run by TimescaleDB's own job scheduler.
* ``NativeBackend``: plain PostgreSQL; declarative range partitions per day, created ahead (and on demand
  by the writer), dropped past retention, and rollup tables (1 min, 1 h) maintained incrementally by
  ``maintain()`` which the APScheduler job calls every minute: up to the invalidation threshold, and for
  every late write's logged range (``resilience.store.rollups``), however late.

The tables, rollups and policies themselves are made by migration 0001 (its own DDL). Both expose the
rollups with the same columns ``(sensor_id, bucket, n, sum, min, max, last)`` under the
same names (``readings_1m``, ``readings_1h``), and views over them that are right whenever the data
arrived (``readings_1m_parts``, ``readings_1h_parts``, migration 0011), so queries never ask which backend runs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from sqlalchemy import Connection, text

from resilience.core.domain import Reading
from resilience.store import rollups
from resilience.store.schema import TIMESERIES_TABLES

log = logging.getLogger(__name__)


class TimeSeriesBackend(Protocol):
    name: str

    def maintain(self, conn: Connection, now: datetime) -> dict[str, int]:
        """Periodic upkeep: partitions ahead, retention, one step of rollups. Returns counts for logs/metrics."""

    def move_threshold(self, conn: Connection, now: datetime) -> None:
        """Before ``maintain``, alone in a committed transaction: from now on a write older than ``now``
        logs its range for the rollups (no-op on TimescaleDB, which logs invalidations itself)."""

    def mark_late(self, conn: Connection, readings: Sequence[Reading]) -> None:
        """In the writing transaction, after the rows are in: log the ranges the rollups may have passed."""

    def refresh_rollups(self, conn: Connection) -> int:
        """One bounded step of rollup refresh; 0 when they are up to date (TimescaleDB: always)."""

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


@dataclass
class NativeBackend:
    retention_days: int = 400
    partitions_ahead: int = 3
    name: str = "native"

    def __post_init__(self) -> None:
        self._known: set[str] = set()
        self._has_definer_ddl: bool | None = None

    @staticmethod
    def partition_name(table: str, day: date) -> str:
        return f"{table}_p{day:%Y%m%d}"

    def _definer_ddl(self, conn: Connection) -> bool:
        """Whether this database has the owner's partition functions (migration 0006): the services' role
        may create and drop day partitions only through them; before 0006 the migrating owner does it."""
        if self._has_definer_ddl is None:
            self._has_definer_ddl = bool(
                conn.execute(text("SELECT to_regprocedure('ensure_day_partition(text, date)')")).scalar()
            )
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
                        conn.execute(
                            text(
                                f"CREATE TABLE {part} PARTITION OF {table} "
                                f"FOR VALUES FROM ('{start} 00:00:00+00') TO ('{end} 00:00:00+00')"
                            )
                        )
            self._known.add(part)

    def _partitions(self, conn: Connection, table: str) -> list[str]:
        rows = conn.execute(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :t ORDER BY 1"
            ),
            {"t": table},
        ).scalars()
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
        for level in rollups.LEVELS:
            conn.execute(
                text(f"DELETE FROM {level.name} WHERE bucket < :c"),
                {"c": datetime.combine(cutoff, datetime.min.time(), UTC) - level.width},
            )
        rollups.prune(conn, datetime.combine(cutoff, datetime.min.time(), UTC))
        return dropped

    def move_threshold(self, conn: Connection, now: datetime) -> None:
        rollups.move_threshold(conn, now)

    def mark_late(self, conn: Connection, readings: Sequence[Reading]) -> None:
        rollups.log_late(conn, readings)

    def refresh_rollups(self, conn: Connection) -> int:
        return rollups.refresh(conn)

    def maintain(self, conn: Connection, now: datetime) -> dict[str, int]:
        today = now.date()
        for table in TIMESERIES_TABLES:
            self.ensure_partitions(conn, table, {today + timedelta(days=i) for i in range(self.partitions_ahead + 1)})
        return {
            "dropped_partitions": self.apply_retention(conn, now),
            "rollup_rows": self.refresh_rollups(conn),
        }

    def rollup_watermark(self, conn: Connection) -> datetime | None:
        return conn.execute(text("SELECT min(watermark) FROM rollup_state")).scalar()


@dataclass
class TimescaleBackend:
    retention_days: int = 400
    partitions_ahead: int = 3
    name: str = "timescaledb"

    def ensure_partitions(self, conn: Connection, table: str, days: set[date]) -> None:
        return None  # hypertables create chunks on insert

    def maintain(self, conn: Connection, now: datetime) -> dict[str, int]:
        return {}  # compression, retention and aggregate refresh are TimescaleDB jobs

    def move_threshold(self, conn: Connection, now: datetime) -> None:
        return None  # TimescaleDB keeps its own invalidation threshold

    def mark_late(self, conn: Connection, readings: Sequence[Reading]) -> None:
        return None  # TimescaleDB logs invalidations of its hypertables itself

    def refresh_rollups(self, conn: Connection) -> int:
        return 0  # the continuous aggregates' policies refresh what was invalidated

    def rollup_watermark(self, conn: Connection) -> datetime | None:
        return None  # real-time aggregates already include the newest raw rows
