"""Leader leases: one row per singleton job (the engine, the scheduler), held by one process at a time.

A holder takes or renews its lease with one UPDATE that succeeds only when the lease has expired or is
already its own; the epoch grows by one whenever the holder changes and is the fencing token the holder's
every commit checks, so a paused old leader's late commit is refused (resilience/store/leases.py). The
services' role reads and writes the new table through migration 0006's default privileges.

Revision ID: 0022_leases
Revises: 0020_names_and_basemap
"""

from __future__ import annotations

from alembic import op

revision = "0022_leases"
down_revision = "0020_names_and_basemap"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE leases (
            name varchar(64) PRIMARY KEY,
            holder varchar(128) NOT NULL,
            epoch bigint NOT NULL,
            expires_at timestamptz NOT NULL,
            acquired_at timestamptz NOT NULL DEFAULT now()
        )""")


def downgrade() -> None:
    op.execute("DROP TABLE leases")
