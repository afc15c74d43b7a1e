"""The detection worker's state in parts: one row per group of sensors, compact binary.

The whole state as one JSONB document outgrew PostgreSQL's JSONB limit at 100,000 sensors (339 MB of
JSON) and took seconds to write even at 1,000. Now a snapshot is a small header (the existing
``detector_snapshots`` row: cursor positions, layout) and parts of zlib-compressed MessagePack, of which
only those with sensors that scored since the last snapshot are rewritten. The data is compressed already,
so the column is stored without PostgreSQL's own compression. The services' role reads and writes the new
table through migration 0006's default privileges.

Revision ID: 0014_detector_state_parts
Revises: 0011_rollup_invalidation
"""

from __future__ import annotations

from alembic import op

revision = "0014_detector_state_parts"
down_revision = "0011_rollup_invalidation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE detector_state_parts (
            name varchar(64) NOT NULL,
            part integer NOT NULL,
            sensors integer NOT NULL,
            saved_at timestamptz NOT NULL DEFAULT now(),
            data bytea NOT NULL,
            PRIMARY KEY (name, part)
        )""")
    op.execute("ALTER TABLE detector_state_parts ALTER COLUMN data SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.execute("DROP TABLE detector_state_parts")
