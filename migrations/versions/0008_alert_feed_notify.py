"""Wake the live alert streams: every insert into ``alert_transitions`` sends ``NOTIFY lifeline_alerts``.

The trigger runs inside the transaction that writes the audit entry, so the notification is delivered at
its commit, exactly when the entry becomes visible, whichever process wrote it (engine or API). It is a
statement trigger, so a batch of entries wakes listeners once. No grant is needed: NOTIFY takes no privilege,
and a trigger fires with the INSERT right the services' role (``resilience_service``, migration 0006) already
has (EXECUTE on a trigger function is checked only when the trigger is created, here by the owner).

Revision ID: 0008_alert_feed_notify
Revises: 0007_state_models
"""

from __future__ import annotations

from alembic import op

revision = "0008_alert_feed_notify"
down_revision = "0007_state_models"
branch_labels = None
depends_on = None

CHANNEL = "lifeline_alerts"


def upgrade() -> None:
    op.execute(f"""
        CREATE OR REPLACE FUNCTION notify_alert_feed() RETURNS trigger
        LANGUAGE plpgsql SET search_path = public, pg_temp AS $fn$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', '');
            RETURN NULL;
        END $fn$""")
    op.execute("""
        CREATE TRIGGER alert_transitions_notify AFTER INSERT ON alert_transitions
        FOR EACH STATEMENT EXECUTE FUNCTION notify_alert_feed()""")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS alert_transitions_notify ON alert_transitions")
    op.execute("DROP FUNCTION IF EXISTS notify_alert_feed()")
