"""Events a consumer handled ahead of its cursor (its priority lane), so the in-order pass skips them.

A red alert must not wait behind a flood of low-level events: the alert consumer takes the most severe
events of a backlog first and records their log numbers here, in the same transaction as their alerts. Rows
go when the cursor passes them.

Revision ID: 0018_event_lane
Revises: 0017_forecasts
"""

from __future__ import annotations

from alembic import op

revision = "0018_event_lane"
down_revision = "0017_forecasts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE event_lane_done (
            consumer varchar(64) NOT NULL,
            seq bigint NOT NULL,
            PRIMARY KEY (consumer, seq)
        )""")


def downgrade() -> None:
    op.execute("DROP TABLE event_lane_done")
