"""Least privilege: the services' group role and the two pieces of DDL they may cause.

The platform's processes (api, ingest, detector, engine, scheduler) log in as a role that is a member of
``resilience_service``: it may read and write rows (SELECT, INSERT, UPDATE, DELETE on the tables, the
sequences' values), run the log sequencer, and create and drop day partitions only through two functions
that run as this database's owner (``ensure_day_partition``, ``drop_day_partition``; their arguments are
checked, their search_path fixed). It owns nothing, creates no table, alters no schema and cannot touch
``alembic_version``. Migrations run as the owner. Future tables of the owner get the same grants.
``resilience_reader`` (dashboards such as Grafana) may read every table but the API keys and sessions.

The group role is created here when the migrating user may (CREATEROLE); otherwise an administrator creates
it (``deploy/postgres/init-roles.sh``) and the grants follow at the next migration.

Revision ID: 0006_service_role
Revises: 0005_api_keys
"""

from __future__ import annotations

from alembic import op

revision = "0006_service_role"
down_revision = "0005_api_keys"
branch_labels = None
depends_on = None

SERVICE_ROLE = "resilience_service"
READER_ROLE = "resilience_reader"  # dashboards (Grafana): read the data, never the keys
SECRET_TABLES = ("api_keys", "api_sessions")
TIMESERIES = ("readings", "risk_series")  # the day-partitioned tables of the native backend


def upgrade() -> None:
    parents = ", ".join(f"'{t}'" for t in TIMESERIES)
    op.execute(f"""
        CREATE OR REPLACE FUNCTION ensure_day_partition(parent text, day date) RETURNS text
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
        DECLARE part text := parent || '_p' || to_char(day, 'YYYYMMDD');
        BEGIN
            IF parent NOT IN ({parents}) THEN
                RAISE EXCEPTION 'not a day-partitioned table: %', parent USING ERRCODE = 'invalid_parameter_value';
            END IF;
            IF to_regclass(part) IS NOT NULL THEN RETURN part; END IF;
            PERFORM pg_advisory_xact_lock(hashtext(part));  -- a concurrent writer may be creating it
            IF to_regclass(part) IS NULL THEN
                EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)', part, parent,
                               day::text || ' 00:00:00+00', (day + 1)::text || ' 00:00:00+00');
            END IF;
            RETURN part;
        END $fn$""")
    op.execute(f"""
        CREATE OR REPLACE FUNCTION drop_day_partition(part text) RETURNS boolean
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
        BEGIN
            IF part !~ '^[a-z_]+_p[0-9]{{8}}$' OR NOT EXISTS (
                    SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                    JOIN pg_class p ON p.oid = i.inhparent
                    WHERE c.relname = part AND p.relname IN ({parents})) THEN
                RAISE EXCEPTION 'not a day partition: %', part USING ERRCODE = 'invalid_parameter_value';
            END IF;
            EXECUTE format('DROP TABLE %I', part);
            RETURN true;
        END $fn$""")
    for fn in ("ensure_day_partition(text, date)", "drop_day_partition(text)"):
        op.execute(f"REVOKE ALL ON FUNCTION {fn} FROM PUBLIC")
    for role in (SERVICE_ROLE, READER_ROLE):
        _create_group_role(role)
    _grant_service()
    _grant_reader()


def _create_group_role(role: str) -> None:
    op.execute(f"""
        DO $do$BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                BEGIN
                    CREATE ROLE {role} NOLOGIN;
                EXCEPTION
                    WHEN duplicate_object THEN NULL;  -- created meanwhile by a concurrent migration
                    WHEN insufficient_privilege THEN
                        RAISE NOTICE 'role {role} is missing and may not be created here: grants skipped';
                END;
            END IF;
        END$do$""")


def _grant_service() -> None:
    op.execute(f"""
        DO $do$BEGIN
            IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{SERVICE_ROLE}') THEN
                EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO {SERVICE_ROLE}', current_database());
                GRANT USAGE ON SCHEMA public TO {SERVICE_ROLE};
                GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {SERVICE_ROLE};
                REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {SERVICE_ROLE};
                GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {SERVICE_ROLE};
                GRANT EXECUTE ON FUNCTION ensure_day_partition(text, date), drop_day_partition(text)
                    TO {SERVICE_ROLE};
                ALTER DEFAULT PRIVILEGES IN SCHEMA public
                    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {SERVICE_ROLE};
                ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {SERVICE_ROLE};
            END IF;
        END$do$""")


def _grant_reader() -> None:
    secrets = ", ".join(SECRET_TABLES)
    op.execute(f"""
        DO $do$BEGIN
            IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{READER_ROLE}') THEN
                EXECUTE format('GRANT CONNECT ON DATABASE %I TO {READER_ROLE}', current_database());
                GRANT USAGE ON SCHEMA public TO {READER_ROLE};
                GRANT SELECT ON ALL TABLES IN SCHEMA public TO {READER_ROLE};
                REVOKE SELECT ON {secrets} FROM {READER_ROLE};
                ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {READER_ROLE};
            END IF;
        END$do$""")


def downgrade() -> None:
    for role in (SERVICE_ROLE, READER_ROLE):
        op.execute(f"""
            DO $do$BEGIN
                IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                    ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {role};
                    ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM {role};
                    REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role};
                    REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {role};
                    REVOKE USAGE ON SCHEMA public FROM {role};
                    EXECUTE format('REVOKE ALL ON DATABASE %I FROM {role}', current_database());
                END IF;
            END$do$""")
    op.execute("DROP FUNCTION IF EXISTS ensure_day_partition(text, date)")
    op.execute("DROP FUNCTION IF EXISTS drop_day_partition(text)")
