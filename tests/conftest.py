"""Real services for the whole suite: PostgreSQL and Mosquitto are started (once) by
``resilience services start`` in the project-local folder; each test session gets its own freshly
migrated database so runs never see each other's data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from sqlalchemy import Engine

from resilience.services import LocalMosquitto, LocalPostgres
from resilience.settings import Settings, get_settings
from resilience.store.db import make_engine, migrate


def _admin_dsn(s: Settings) -> str:
    return f"postgresql://{s.db_user}:{s.db_password}@{s.db_host}:{s.db_port}/postgres"


@contextmanager
def fresh_database(s: Settings, prefix: str) -> Iterator[str]:
    """A new database migrated to head (its URL), dropped afterwards: for tests whose counts must see only
    their own rows (each test package that needs that gets one)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_admin_dsn(s), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = s.database_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        migrate(url)
        yield url
    finally:
        with psycopg.connect(_admin_dsn(s), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def services() -> Settings:
    s = get_settings()
    LocalPostgres(s).start()
    LocalMosquitto(s).start()
    return s


@pytest.fixture(scope="session")
def db_url(services: Settings) -> Iterator[str]:
    """A fresh database for this test session, migrated to head; dropped afterwards."""
    with fresh_database(services, "test") as url:
        os.environ["RESILIENCE_DATABASE_URL_OVERRIDE"] = url
        get_settings.cache_clear()
        yield url
    os.environ.pop("RESILIENCE_DATABASE_URL_OVERRIDE", None)
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def db_engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def mqtt_broker(services: Settings) -> tuple[str, int]:
    return services.mqtt_host, services.mqtt_port


@pytest.fixture()
def api_client(db_engine: Engine):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from resilience.api.main import create_app

    from tests.auth import key_header

    app = create_app(engine=db_engine)
    with TestClient(app, headers=key_header(db_engine)) as client:  # an admin key
        yield client
