"""The services' database login may move rows and nothing more (migration 0006), against the real server:
ingest lands readings in a new day partition through the owner's function, the scheduler's upkeep drops an
expired one the same way; creating, altering, truncating or dropping tables, rewriting the migration
record and misusing the partition functions are refused by PostgreSQL itself."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from ingest.pipeline import IngestPipeline, Message
from resilience.store.registry_snapshot import read_version
from resilience.runtime.scheduler_process import maintain_store
from resilience.core.settings import Settings, get_settings
from resilience.store.db import make_engine
from tests.conftest import fresh_database
from tests.registry import register_sensors
from tests.spine.workers import service_url


@pytest.fixture(scope="module")
def own_db(services: Settings) -> Iterator[str]:
    """A database of this module's own: its upkeep test drops partitions by a short retention."""
    with fresh_database(services, "lp") as url:
        yield url


@pytest.fixture(scope="module")
def service_engine(own_db: str) -> Iterator[Engine]:
    engine = make_engine(service_url(own_db))
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def owner_engine(own_db: str) -> Iterator[Engine]:
    engine = make_engine(own_db)
    yield engine
    engine.dispose()


def test_the_service_login_is_no_superuser_and_owns_nothing(service_engine: Engine) -> None:
    with service_engine.connect() as conn:
        me = conn.execute(text("SELECT current_user")).scalar_one()
        assert me == get_settings().db_app_user
        assert (
            conn.execute(
                text("SELECT rolsuper OR rolcreaterole OR rolcreatedb FROM pg_roles WHERE rolname = current_user")
            ).scalar_one()
            is False
        )
        assert (
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
                    "WHERE r.rolname = current_user"
                )
            ).scalar_one()
            == 0
        )
        assert conn.execute(text("SELECT pg_has_role(current_user, 'resilience_service', 'member')")).scalar_one()
        assert not conn.execute(text("SELECT pg_has_role(current_user, 'resilience_reader', 'member')")).scalar_one()


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE intruder (x int)",
        "ALTER TABLE alerts ADD COLUMN intruder int",
        "DROP TABLE dead_letters",
        "TRUNCATE readings",
        "DELETE FROM alembic_version",
        "CREATE FUNCTION intruder() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        "SELECT ensure_day_partition('api_keys', DATE '2030-01-01')",
        "SELECT drop_day_partition('api_keys')",
        "CREATE ROLE intruder LOGIN SUPERUSER",
    ],
)
def test_the_service_login_may_not_change_the_schema(service_engine: Engine, statement: str) -> None:
    with pytest.raises(DBAPIError) as refused, service_engine.begin() as conn:
        conn.execute(text(statement))
    assert refused.value.orig is not None
    assert getattr(refused.value.orig, "sqlstate", "") in ("42501", "22023", "42P01", "0LP01"), refused.value


def test_ingest_and_upkeep_work_with_only_the_service_rights(service_engine: Engine, owner_engine: Engine) -> None:
    db_engine = owner_engine
    utility, sensor = "LP-UTIL", "LP-S1"
    with db_engine.begin() as conn:
        register_sensors(
            conn,
            utility=utility,
            asset="LP-ASSET",
            asset_kind="water_main",
            sensor_kind="water_flow",
            unit="m**3/h",
            sensor_ids=[sensor],
            interval_s=60,
        )
    # a backfill from a day no partition exists for: the writer creates it through the owner's function
    day = datetime.now(UTC).date() - timedelta(days=200)
    assert _partition(db_engine, day) is None
    t = datetime(day.year, day.month, day.day, 12, tzinfo=UTC).timestamp()
    pipeline = IngestPipeline(service_engine, get_settings())
    result = pipeline.ingest([Message("http", utility, json.dumps([{"n": sensor, "t": t, "v": 12.5}]).encode())])
    assert result.messages[0].accepted == 1, result.messages[0].rejections
    assert _partition(db_engine, day) == f"readings_p{day:%Y%m%d}"
    with db_engine.connect() as conn:
        assert conn.execute(text("SELECT value FROM readings WHERE sensor_id = :s"), {"s": sensor}).scalar() == 12.5
        owner = conn.execute(
            text("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = :p"), {"p": f"readings_p{day:%Y%m%d}"}
        ).scalar()
        assert (
            owner
            == conn.execute(
                text("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()")
            ).scalar()
        )
    # the scheduler's upkeep as the service login: that day is past retention, so its partition goes
    short = get_settings().model_copy(update={"retention_days": 100})
    counts = maintain_store(service_engine, short)
    assert counts["dropped_partitions"] >= 1
    assert _partition(db_engine, day) is None


def _partition(engine: Engine, day: date) -> str | None:
    with engine.connect() as conn:
        return conn.execute(text("SELECT to_regclass(:p)::text"), {"p": f"readings_p{day:%Y%m%d}"}).scalar()


def test_a_registry_write_as_the_service_login_bumps_the_registry_version(service_engine: Engine) -> None:
    """The trigger of migration 0009 runs with the writer's rights: the services' role may bump the version
    (an admin registering a sensor through the API writes as this login), and a reader sees it move."""
    with service_engine.connect() as conn:
        before = read_version(conn)
    with service_engine.begin() as conn:
        conn.execute(text("INSERT INTO districts (id, name, population) VALUES ('LP-D', 'Least', 1)"))
    with service_engine.begin() as conn:
        assert read_version(conn) != before
        conn.execute(text("DELETE FROM districts WHERE id = 'LP-D'"))
