"""Rollups that are always right: an invalidation log for late readings, and views that answer from the
rollups only where they are complete.

Native path (TimescaleDB's model, by hand). ``rollup_threshold`` is the instant below which the rollups
may already be materialized. The writer (``resilience.store.readings.insert_new_readings``, the one insert
of every write path) reads it under a shared advisory lock and, in its own transaction, logs each sensor's
range of readings older than it in ``rollup_invalidations``; the scheduler moves the threshold under the
exclusive lock (waiting for writers in flight), then materializes up to it and refreshes exactly the logged
ranges, deleting the log rows it consumed in the same transaction. ``readings_1m_parts`` and
``readings_1h_parts`` give rollup rows where they are complete and raw readings (one row each, ``raw``
true) after the watermark and inside ranges still logged, so re-aggregating them is right whenever the data
arrived. Existing rollups (refreshed only 2 hours back until now) are logged whole, to be rebuilt.

TimescaleDB path: the continuous aggregates' policies now refresh the whole retention window (TimescaleDB
refreshes only its invalidated regions in it, so a wide window is cheap), and the two views read the
real-time aggregates.

Revision ID: 0011_rollup_invalidation
Revises: 0009_registry_version
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

revision = "0011_rollup_invalidation"
down_revision = "0009_registry_version"
branch_labels = None
depends_on = None

THRESHOLD_LOCK = 72_011_001  # advisory key: writers share it, moving the threshold takes it alone
ORIGIN = "TIMESTAMPTZ '2000-01-01'"  # date_bin's origin everywhere in the store
LEVELS = {"readings_1m": "1 minute", "readings_1h": "1 hour"}
COLUMNS = "sensor_id, bucket, n, sum, min, max, last, last_ts, raw"
POLICIES = [("readings_1m", "1 minute"), ("readings_1h", "5 minutes")]  # (aggregate, schedule)


PENDING_SPANS = f"""
    CREATE OR REPLACE FUNCTION rollup_pending_spans(width interval)
    RETURNS TABLE (sensor_id text, lo timestamptz, hi timestamptz)
    LANGUAGE sql STABLE ROWS 1 SET search_path = public, pg_temp AS $fn$
        SELECT sensor_id, lower(span), upper(span) FROM (
            SELECT sensor_id, unnest(range_agg(tstzrange(date_bin(width, lo, {ORIGIN}),
                   date_bin(width, hi, {ORIGIN}) + width))) AS span
              FROM rollup_invalidations GROUP BY sensor_id) s
    $fn$"""


def _native_view(name: str, width: str) -> str:
    """Three parts: rollup buckets before the watermark that no logged range touches; raw readings after
    the watermark; raw readings in the logged ranges, merged per sensor so none counts twice. The merged
    ranges come from a function the planner does not inline and expects one row of (normally the log is
    all but empty), so each range is read through the readings' key and the plan stays cheap (no JIT over
    every day partition); a query reads no more raw rows than are pending for its sensors plus those after
    the watermark."""
    wm = f"(SELECT watermark FROM rollup_state WHERE name = '{name}')"
    w = f"INTERVAL '{width}'"
    return f"""
        CREATE OR REPLACE VIEW {name}_parts ({COLUMNS}) AS
        SELECT r.sensor_id, r.bucket, r.n, r.sum, r.min, r.max, r.last, r.last_ts, false FROM {name} r
         WHERE r.bucket < {wm} AND NOT EXISTS (
               SELECT 1 FROM rollup_invalidations i WHERE i.sensor_id = r.sensor_id
                  AND i.lo < r.bucket + {w} AND i.hi >= r.bucket)
        UNION ALL
        SELECT x.sensor_id, x.ts, 1::bigint, x.value, x.value, x.value, x.value, x.ts, true
          FROM readings x WHERE x.ts >= {wm}
        UNION ALL
        SELECT p.sensor_id, x.ts, 1::bigint, x.value, x.value, x.value, x.value, x.ts, true
          FROM rollup_pending_spans({w}) p
         CROSS JOIN LATERAL (
               SELECT ts, value FROM readings WHERE sensor_id = p.sensor_id AND ts >= p.lo
                  AND ts < least(p.hi, {wm}) OFFSET 0) x"""


def _native() -> None:
    op.execute(
        """
        CREATE OR REPLACE FUNCTION rollup_threshold_shared() RETURNS timestamptz
        LANGUAGE plpgsql VOLATILE SET search_path = public, pg_temp AS $fn$
        BEGIN
            PERFORM pg_advisory_xact_lock_shared(%s);
            -- a statement of its own after the lock: its snapshot sees a threshold moved meanwhile
            RETURN (SELECT threshold FROM rollup_threshold WHERE id = 1);
        END $fn$"""
        % THRESHOLD_LOCK
    )
    # what the rollups hold so far may lack back-filled readings: log it all, per sensor and day
    op.execute("""
        INSERT INTO rollup_invalidations (sensor_id, lo, hi)
        SELECT sensor_id, min(ts), max(ts) FROM readings
         WHERE ts < (SELECT threshold FROM rollup_threshold WHERE id = 1)
         GROUP BY sensor_id, date_trunc('day', ts, 'UTC')""")
    op.execute(PENDING_SPANS)
    for name, width in LEVELS.items():
        op.execute(_native_view(name, width))


def _timescale(retention_days: int = 400) -> None:
    for view, schedule in POLICIES:
        op.execute(f"SELECT remove_continuous_aggregate_policy('{view}')")
        # the whole retention window but its last day (raw chunks about to be dropped must not empty buckets)
        op.execute(
            f"SELECT add_continuous_aggregate_policy('{view}', "
            f"start_offset => INTERVAL '{retention_days - 1} days', end_offset => INTERVAL '1 minute', "
            f"schedule_interval => INTERVAL '{schedule}')"
        )
    for name in LEVELS:
        op.execute(
            f"CREATE OR REPLACE VIEW {name}_parts ({COLUMNS}) AS "
            f"SELECT sensor_id, bucket, n, sum, min, max, last, last_ts, false FROM {name}"
        )


def upgrade() -> None:
    op.execute("""
        CREATE TABLE rollup_invalidations (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            sensor_id text NOT NULL,
            lo timestamp with time zone NOT NULL,
            hi timestamp with time zone NOT NULL,
            CHECK (lo <= hi)
        )""")
    op.execute("CREATE INDEX ix_rollup_invalidations_sensor_lo ON rollup_invalidations (sensor_id, lo)")
    op.execute("""
        CREATE TABLE rollup_threshold (
            id smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
            threshold timestamp with time zone NOT NULL
        )""")
    op.execute(
        "INSERT INTO rollup_threshold (id, threshold) SELECT 1, coalesce(max(watermark), "
        "'1970-01-01T00:00:00+00:00') FROM rollup_state"
    )
    name = op.get_bind().execute(text("SELECT name FROM timeseries_backend")).scalar()
    _timescale() if name == "timescaledb" else _native()


def downgrade() -> None:
    name = op.get_bind().execute(text("SELECT name FROM timeseries_backend")).scalar()
    for view in LEVELS:
        op.execute(f"DROP VIEW IF EXISTS {view}_parts")
    if name == "timescaledb":
        for view, offset, interval in [("readings_1m", "2 hours", "1 minute"), ("readings_1h", "3 days", "1 hour")]:
            op.execute(f"SELECT remove_continuous_aggregate_policy('{view}')")
            op.execute(
                f"SELECT add_continuous_aggregate_policy('{view}', start_offset => INTERVAL '{offset}', "
                f"end_offset => INTERVAL '{interval}', schedule_interval => INTERVAL '{interval}')"
            )
    op.execute("DROP FUNCTION IF EXISTS rollup_threshold_shared()")
    op.execute("DROP FUNCTION IF EXISTS rollup_pending_spans(interval)")
    op.execute("DROP TABLE IF EXISTS rollup_threshold")
    op.execute("DROP TABLE IF EXISTS rollup_invalidations")
