"""Alert service tables: alerts, audit log, disposal actions, silences, notification outbox and log.

Revision ID: 0002_alerts
Revises: 0001_core
"""

from __future__ import annotations

from alembic import op

revision = "0002_alerts"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from alerts.schema import ALERT_TABLES

    bind = op.get_bind()
    for table in ALERT_TABLES:
        table.create(bind)


def downgrade() -> None:
    from alerts.schema import ALERT_TABLES

    bind = op.get_bind()
    for table in reversed(ALERT_TABLES):
        table.drop(bind, checkfirst=True)
