"""Reliability: a gap-free event log, the durable hand-off of committed readings to detection, worker
heartbeats, and optimistic locking of alert rows.

- ``events.tx`` / ``reading_batches.tx``: the writing transaction's id (``pg_current_xact_id()``). Consumers
  read in ``(tx, id)`` order and only rows whose ``tx`` is below the oldest running transaction
  (``pg_snapshot_xmin``), so a row whose id was taken before a later one committed is never passed over
  (the visibility rule of PgQ). Cursors keep ``(last_tx, last_id)`` and count what they handed on.
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


def upgrade() -> None:
    op.execute("ALTER TABLE events ADD COLUMN IF NOT EXISTS tx xid8 NOT NULL DEFAULT pg_current_xact_id()")
    op.execute("CREATE INDEX IF NOT EXISTS ix_events_tx_id ON events (tx, id)")
    op.execute("ALTER TABLE event_cursors ADD COLUMN IF NOT EXISTS last_tx xid8 NOT NULL DEFAULT '0'")
    op.execute("ALTER TABLE event_cursors ADD COLUMN IF NOT EXISTS processed bigint NOT NULL DEFAULT 0")
    # Existing cursors keep their place: every existing event now carries this migration's tx, in id order.
    op.execute("UPDATE event_cursors c SET last_tx = e.tx FROM events e WHERE e.id = c.last_id")
    op.execute("""
        CREATE TABLE IF NOT EXISTS reading_batches (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            tx xid8 NOT NULL DEFAULT pg_current_xact_id(),
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
    op.execute("CREATE INDEX IF NOT EXISTS ix_reading_batches_shard_tx_id ON reading_batches (shard, tx, id)")
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
    op.execute("ALTER TABLE event_cursors DROP COLUMN IF EXISTS processed")
    op.execute("ALTER TABLE event_cursors DROP COLUMN IF EXISTS last_tx")
    op.execute("DROP INDEX IF EXISTS ix_events_tx_id")
    op.execute("ALTER TABLE events DROP COLUMN IF EXISTS tx")
