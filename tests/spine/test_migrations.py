"""Migrations stand on their own: none imports the live models, and an empty database upgraded to head is
exactly what the models describe (tables, columns, types, nullability, indexes, keys), so a model changed
without a migration, or a migration that drifts from the models, fails here."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

import alerts.store.schema  # noqa: F401 - the alert tables share the metadata
from resilience.core.settings import Settings
from resilience.store.db import make_engine
from resilience.store.schema import TIMESERIES_TABLES, metadata
from tests.conftest import fresh_database

VERSIONS = Path(__file__).resolve().parents[2] / "migrations" / "versions"
# made by migration 0001 per backend and described by TIMESERIES_TABLES, not by the models
UNMODELLED = {*TIMESERIES_TABLES, "readings_1m", "readings_1h", "timeseries_backend"}


def test_no_migration_imports_the_live_code() -> None:
    for path in sorted(VERSIONS.glob("0*.py")):
        tree = ast.parse(path.read_text())
        imported = {
            alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
        }
        imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not imported & {"resilience", "alerts", "ingest"}, f"{path.name} imports {imported}"


def _include(obj: Any, name: str | None, kind: str, reflected: bool, compare_to: Any) -> bool:
    if kind == "table" and name is not None:
        return name not in UNMODELLED and not any(name.startswith(f"{t}_p") for t in TIMESERIES_TABLES)
    return True


def test_an_empty_database_at_head_is_what_the_models_describe(services: Settings) -> None:
    with fresh_database(services, "mig", from_template=False) as url:  # migrated here, not a template's copy
        engine: Engine = make_engine(url)
        try:
            with engine.connect() as conn:
                context = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": _include})
                diffs = compare_metadata(context, metadata)
        finally:
            engine.dispose()
    assert diffs == [], "the migrated schema and the models differ:\n" + "\n".join(map(str, diffs))


def test_migrations_go_down_to_nothing_and_up_again(services: Settings) -> None:
    from alembic import command
    from sqlalchemy import text

    from resilience.store.db import alembic_config

    with fresh_database(services, "mig") as url:
        engine = make_engine(url)
        try:
            command.downgrade(alembic_config(url), "base")
            with engine.connect() as conn:
                left = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars()
                assert set(left) <= {"alembic_version"}
            command.upgrade(alembic_config(url), "heads")
            with engine.connect() as conn:
                assert conn.execute(text("SELECT to_regclass('alerts')")).scalar() is not None
        finally:
            engine.dispose()
