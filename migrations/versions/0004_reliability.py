"""Reliability: a gap-free event log, the durable hand-off of committed readings to detection, worker
heartbeats, and optimistic locking of alert rows.

- ``events.seq`` / ``reading_batches.seq``: the log order, given to committed rows by ``sequence_log()``
  (one sequencer at a time, under an advisory lock), so a row whose id was taken before a later one
  committed is never passed over, and no open transaction anywhere holds consumers back. Existing events
  are sequenced in id order; cursors keep ``last_seq`` (formerly ``last_id``) and count what they handed on.
- ``reading_batches``: written in the same transaction as the readings they carry (an outbox partitioned
  by a shard of the sensor id), consumed by the detector with a cursor committed with its own output.
- ``worker_heartbeats``: each worker's liveness and progress, read by ``/readyz`` and the platform watch.
- ``alerts.row_version``: bumped on every save; a save of a row read at another version is refused.

Written with its own DDL (no live table objects) and idempotent on databases that already have any part.

Revision ID: 0004_reliability
Revises: 0003_notification_timing
"""

from __future__ import annotations

from alembic import op

revision = "0004_reliability"
down_revision = "0003_notification_timing"
branch_labels = None
depends_on = None


SEQUENCE_LOG = """
CREATE OR REPLACE FUNCTION sequence_log(log regclass, batch integer) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    n bigint;
BEGIN
    -- One sequencer per log at a time, and each of its statements sees what the one before it committed:
    -- numbers are taken and committed in the same order, so a consumer reading seq > last skips nothing.
    PERFORM pg_advisory_xact_lock(hashtext('sequence_log:' || log::text));
    EXECUTE format('UPDATE %1$s t SET seq = q.seq FROM (SELECT o.id, nextval(%2$L) AS seq FROM '
                   '(SELECT id FROM %1$s WHERE seq IS NULL ORDER BY id LIMIT %3$s) o) q WHERE t.id = q.id',
                   log, log::text || '_seq', batch);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$"""


def _sequenced(table: str) -> None:
    op.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS seq bigint")
    op.execute(f"CREATE SEQUENCE IF NOT EXISTS {table}_seq")
    op.execute(f"CREATE INDEX IF NOT EXISTS ix_{table}_unsequenced ON {table} (id) WHERE seq IS NULL")


def upgrade() -> None:
    _sequenced("events")
    op.execute("CREATE INDEX IF NOT EXISTS ix_events_seq ON events (seq)")
    # Existing events keep their order and existing cursors their place: seq = id.
    op.execute("UPDATE events SET seq = id WHERE seq IS NULL")
    op.execute("SELECT setval('events_seq', greatest((SELECT max(id) FROM events), 1))")
    op.execute("""
        DO $$ BEGIN
            IF EXISTS (SELECT 1 FROM information_schema.columns
                       WHERE table_name = 'event_cursors' AND column_name = 'last_id') THEN
                ALTER TABLE event_cursors RENAME COLUMN last_id TO last_seq;
            END IF;
        END $$""")
    op.execute("ALTER TABLE event_cursors ADD COLUMN IF NOT EXISTS processed bigint NOT NULL DEFAULT 0")
    op.execute(SEQUENCE_LOG)
    op.execute("""
        CREATE TABLE IF NOT EXISTS reading_batches (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            seq bigint,
            shard smallint NOT NULL,
            transport varchar(8) NOT NULL,
            n integer NOT NULL,
            readings bytea NOT NULL,  -- resilience.store.handoff.encode
            created_at timestamptz NOT NULL DEFAULT now()
        )""")
    # lz4 where the server has it: pglz would spend the database's CPU on rows consumed within seconds
    op.execute("""
        DO $$ BEGIN
            IF EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression'
                       AND 'lz4' = ANY(enumvals)) THEN
                ALTER TABLE reading_batches ALTER COLUMN readings SET COMPRESSION lz4;
            END IF;
        END $$""")
    _sequenced("reading_batches")
    op.execute("CREATE INDEX IF NOT EXISTS ix_reading_batches_shard_seq ON reading_batches (shard, seq)")
    op.execute("CREATE INDEX IF NOT EXISTS ix_reading_batches_created ON reading_batches (created_at)")
    op.execute("""
        CREATE TABLE IF NOT EXISTS worker_heartbeats (
            worker varchar(64) PRIMARY KEY,
            role varchar(32) NOT NULL,
            beat_at timestamptz NOT NULL,
            progress_at timestamptz,
            backlog integer NOT NULL DEFAULT 0,
            oldest_pending_s double precision NOT NULL DEFAULT 0,
            detail jsonb NOT NULL DEFAULT '{}'
        )""")
    op.execute("CREATE INDEX IF NOT EXISTS ix_dead_letters_received ON dead_letters (received_at)")
    op.execute("ALTER TABLE alerts ADD COLUMN IF NOT EXISTS row_version integer NOT NULL DEFAULT 0")


def downgrade() -> None:
    op.execute("ALTER TABLE alerts DROP COLUMN IF EXISTS row_version")
    op.execute("DROP INDEX IF EXISTS ix_dead_letters_received")
    op.execute("DROP TABLE IF EXISTS worker_heartbeats")
    op.execute("DROP TABLE IF EXISTS reading_batches")
    op.execute("DROP SEQUENCE IF EXISTS reading_batches_seq")
    op.execute("DROP FUNCTION IF EXISTS sequence_log(regclass, integer)")
    op.execute("ALTER TABLE event_cursors DROP COLUMN IF EXISTS processed")
    op.execute("ALTER TABLE event_cursors RENAME COLUMN last_seq TO last_id")
    op.execute("DROP INDEX IF EXISTS ix_events_seq")
    op.execute("DROP INDEX IF EXISTS ix_events_unsequenced")
    op.execute("ALTER TABLE events DROP COLUMN IF EXISTS seq")
    op.execute("DROP SEQUENCE IF EXISTS events_seq")
