"""Notification timing for one-alert-per-problem: message kinds (firing | update | resolved | escalation) and
``due_at`` (group_wait / group_interval). Written to be a no-op on databases whose 0002 already has them.

Revision ID: 0003_notification_timing
Revises: 0002_alerts
"""

from __future__ import annotations

from alembic import op

revision = "0003_notification_timing"
down_revision = "0002_alerts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE notifications ADD COLUMN IF NOT EXISTS due_at timestamptz")
    op.execute("ALTER TABLE notifications ALTER COLUMN kind SET DEFAULT 'firing'")
    op.execute("UPDATE notifications SET kind = 'firing' WHERE kind = 'notify'")


def downgrade() -> None:
    op.execute("UPDATE notifications SET kind = 'notify' WHERE kind = 'firing'")
    op.execute("ALTER TABLE notifications ALTER COLUMN kind SET DEFAULT 'notify'")
    op.execute("ALTER TABLE notifications DROP COLUMN IF EXISTS due_at")
