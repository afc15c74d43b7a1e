"""Real services for the whole suite: PostgreSQL and Mosquitto are started (once) by
``resilience services start`` in the project-local folder. Each test package gets a database of its own,
cloned from a template migrated once (tests/databases.py), so no package sees another's rows and the
results do not depend on the order packages run in.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from resilience.ops.local_services import LocalMosquitto, LocalPostgres
from resilience.core.settings import Settings, get_settings
from tests.databases import PackageDatabases, fresh_database, package_of
from tests.examples import FAST_EXAMPLES, PROFILE

__all__ = ["fresh_database"]  # re-exported: package conftests and tests take it from here

URL_OVERRIDE = "RESILIENCE_DATABASE_URL_OVERRIDE"


def pytest_configure(config: pytest.Config) -> None:
    """The Hypothesis profile (tests/examples.py): ``fast`` (make test-fast) runs a few examples per property,
    ``full`` (make test, the default) Hypothesis' own count or the one a test writes."""
    from hypothesis import settings

    settings.register_profile("full", settings.get_profile("default"))
    settings.register_profile("fast", max_examples=FAST_EXAMPLES)
    settings.load_profile(PROFILE)


@pytest.fixture(scope="session")
def services() -> Settings:
    s = get_settings()
    LocalPostgres(s).start()
    LocalMosquitto(s).start()
    return s


@pytest.fixture(scope="session")
def package_databases(services: Settings) -> Iterator[PackageDatabases]:
    dbs = PackageDatabases(services)
    yield dbs
    dbs.close()


@pytest.fixture(scope="module")
def db_url(request: pytest.FixtureRequest, package_databases: PackageDatabases) -> Iterator[str]:
    """This test package's database (the same for every module in it); the settings point at it while the
    module runs, so code that reads ``get_settings().database_url`` and the workers a test spawns use it."""
    url = package_databases.url(package_of(request.path))
    before = os.environ.get(URL_OVERRIDE)
    os.environ[URL_OVERRIDE] = url
    get_settings.cache_clear()
    yield url
    if before is None:
        os.environ.pop(URL_OVERRIDE, None)
    else:
        os.environ[URL_OVERRIDE] = before
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def db_engine(request: pytest.FixtureRequest, db_url: str, package_databases: PackageDatabases) -> Engine:
    return package_databases.engine(package_of(request.path))


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
