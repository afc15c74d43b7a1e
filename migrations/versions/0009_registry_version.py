"""A version number for the registry, bumped by every write to districts, assets or sensors.

Each process keeps a cached copy of the registry (``resilience.core.registry_cache``) and must notice a change
within its max age, and at once when a reading names a sensor it does not know. Reading the whole registry
and hashing it to find out cost a full read per check. Now a check reads one number: statement triggers on
the three tables add one to ``registry_version.version`` in the writing transaction, so the new number
becomes visible exactly when the change does, whoever made it (API, seeding, psql). A bulk insert bumps it
once. The services' role may update the row through the trigger with the rights migration 0006's default
privileges already give it on a new table.

Revision ID: 0009_registry_version
Revises: 0008_alert_feed_notify
"""

from __future__ import annotations

from alembic import op

revision = "0009_registry_version"
down_revision = "0008_alert_feed_notify"
branch_labels = None
depends_on = None

TABLES = ("districts", "assets", "sensors")


def upgrade() -> None:
    op.execute("""
        CREATE TABLE registry_version (
            id smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
            version bigint NOT NULL DEFAULT 1
        )""")
    op.execute("INSERT INTO registry_version (id, version) VALUES (1, 1)")
    op.execute("""
        CREATE OR REPLACE FUNCTION bump_registry_version() RETURNS trigger
        LANGUAGE plpgsql SET search_path = public, pg_temp AS $fn$
        BEGIN
            UPDATE registry_version SET version = version + 1 WHERE id = 1;
            RETURN NULL;
        END $fn$""")
    for table in TABLES:
        op.execute(f"""
            CREATE TRIGGER {table}_bump_registry_version
            AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION bump_registry_version()""")


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_bump_registry_version ON {table}")
    op.execute("DROP FUNCTION IF EXISTS bump_registry_version()")
    op.execute("DROP TABLE IF EXISTS registry_version")
