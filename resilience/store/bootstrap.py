"""The statements that set up a local server before there is a database to migrate: the login roles and the
database itself. ``resilience.ops.local_services`` runs them through ``psql`` as the ``postgres`` superuser (no driver
is needed yet), so they are plain SQL text; names and passwords come from the settings, quoted here."""

from __future__ import annotations


def _ident(name: str) -> str:
    return name.replace('"', "")


def _literal(value: str) -> str:
    return value.replace("'", "''")


def role_statements(*, owner: str, owner_password: str, app: str, app_password: str) -> list[str]:
    """Create, if missing: the owner (superuser, runs migrations), the ``resilience_service`` group and the
    platform's own login in it."""
    owner, app = _ident(owner), _ident(app)
    return [
        f"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='{owner}') THEN "
        f"CREATE ROLE \"{owner}\" LOGIN SUPERUSER PASSWORD '{_literal(owner_password)}'; END IF; END$$;",
        "DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='resilience_service') "
        "THEN CREATE ROLE resilience_service NOLOGIN; END IF; END$$;",
        f"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='{app}') THEN "
        f"CREATE ROLE \"{app}\" LOGIN PASSWORD '{_literal(app_password)}' IN ROLE resilience_service; "
        "END IF; END$$;",
    ]


def database_exists_query(name: str) -> str:
    """Prints ``1`` when the database exists."""
    return f"SELECT 1 FROM pg_database WHERE datname='{name}'"


def create_database_statement(name: str, *, owner: str) -> str:
    return f'CREATE DATABASE "{name}" OWNER "{_ident(owner)}"'
