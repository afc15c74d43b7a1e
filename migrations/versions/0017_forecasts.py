"""Current projections of when trending sensors reach their alarm levels (warning before the limit).

One row per sensor with a projection in force, written by the detection worker in the transaction of the
forecast events it publishes (issue and update replace the row, withdraw deletes it), so the console and
the alert read what is projected now without scanning the event log. The services' role reads and writes
the new table through migration 0006's default privileges.

Revision ID: 0017_forecasts
Revises: 0016_rebaseline_audit
"""

from __future__ import annotations

from alembic import op

revision = "0017_forecasts"
down_revision = "0016_rebaseline_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE forecasts (
            sensor_id varchar(64) NOT NULL,
            asset_id varchar(64) NOT NULL,
            sensor_kind varchar(32) NOT NULL,
            ts timestamptz NOT NULL,
            value double precision,
            slope_per_min double precision NOT NULL,
            projections jsonb NOT NULL,
            explanation text NOT NULL DEFAULT '',
            message jsonb,
            PRIMARY KEY (sensor_id)
        )""")
    op.execute("CREATE INDEX ix_forecasts_asset ON forecasts (asset_id)")


def downgrade() -> None:
    op.execute("DROP TABLE forecasts")
