"""Schemathesis over the served OpenAPI of the real app: no generated request, valid or not, gets a 5xx; and
every reply is one the document promises (its status code, media type and body schema), so a client
generated from the document can read what the API answers.

Requests go in-process (ASGI) to ``create_app`` on a database of its own (``fuzz_engine``): generated
POST/PUT/DELETE requests create, change and delete rows, and none of that may leak into the rest of the
suite. Nothing here may reach the network: no dispatcher runs, so webhook URLs and e-mail addresses that
generated requests register are never delivered to, and ``no_network`` fails any attempt to connect to
anything but loopback (PostgreSQL is reached through libpq, not Python sockets).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine

from resilience.api.login_limits import LoginLimits
from resilience.api.main import create_app
from tests.auth import make_key
from resilience.core.settings import Settings
from resilience.store.db import make_engine
from tests.conftest import fresh_database
from tests.examples import PROFILE, max_examples

# per operation: ~40 operations stay well inside CI's two-minute budget on two cores; raise it locally to dig
# deeper (the fast loop runs a few per operation: tests/examples.py)
MAX_EXAMPLES = max_examples(int(os.environ.get("FUZZ_MAX_EXAMPLES", "30")), fast=5)
# the conformance run checks replies, not inputs: a few per operation (no coverage phase) keeps it to seconds
CONFORMANCE_EXAMPLES = max_examples(int(os.environ.get("FUZZ_CONFORMANCE_EXAMPLES", "6")), fast=3)
CONFORMANCE = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzz_engine(services: Settings) -> Iterator[Engine]:
    """A freshly migrated database for this module only, dropped afterwards (the suite's is shared)."""
    with fresh_database(services, "test_fuzz") as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


def _is_loopback(address: Any) -> bool:
    if not isinstance(address, tuple):  # AF_UNIX paths and the like stay on this host
        return True
    host = str(address[0])
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True, scope="module")
def no_network() -> Iterator[None]:
    """Refuse every Python-level connection off this host while the fuzzer runs."""
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def guard(address: Any) -> None:
        if not _is_loopback(address):
            raise AssertionError(f"the fuzz test tried to reach the network: {address!r}")

    def connect(self: socket.socket, address: Any) -> None:
        guard(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        guard(address)
        return real_connect_ex(self, address)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", connect)
        mp.setattr(socket.socket, "connect_ex", connect_ex)
        yield


def served_schema() -> Any:
    """The OpenAPI the real app serves at /openapi.json (to authenticated callers only, so the document is
    taken from the app itself: building it touches no database and happens at collection;
    ``schemathesis.pytest.from_fixture`` would defer it, but breaks on pytest 9.2: ``Function._nodeid``)."""
    app = create_app(engine=create_engine("postgresql+psycopg://schema-only.invalid/unused"))
    return schemathesis.openapi.from_dict(app.openapi())


def without_streams(served: Any) -> Any:
    """The document without the SSE streams: they never end (they follow the audit log until the client goes
    away), so a generated request would hang the test. tests/alerts/test_api.py and
    tests/console/test_console_api.py cover them with ``limit``."""
    return served.exclude(path="/api/v1/alerts/stream").exclude(path="/api/v1/console/alerts/stream")


schema = without_streams(served_schema())
conformance_schema = without_streams(served_schema())
conformance_schema.config.phases.coverage.enabled = False
# The coverage phase's deterministic boundary cases (a few hundred requests whatever max_examples says) run
# in the full profile (make test); the fast loop fuzzes only.
schema.config.phases.coverage.enabled = PROFILE != "fast"


# Rows the fuzzer is steered to now and then (``seeded_ids``), so routes get past their 404 into the code
# that reads, pages and aggregates; created through the public API, as a client would.
SEEDED = {"utility": "FZ-U1", "district": "FZ-D1", "asset": "FZ-A1", "sensor": "FZ-S1"}
SEEDED_PATHS = {
    "/api/v1/districts/{id}": {"id": SEEDED["district"]},
    "/api/v1/assets/{id}": {"id": SEEDED["asset"]},
    "/api/v1/sensors/{id}": {"id": SEEDED["sensor"]},
    "/api/v1/sensors/{sensor_id}/readings": {"sensor_id": SEEDED["sensor"]},
    "/api/v1/risk/assets/{asset_id}": {"asset_id": SEEDED["asset"]},
}


def seed(client: TestClient) -> None:
    """A small registry and a day of readings every 5 minutes for one sensor."""
    for path, body in (
        ("/api/v1/utilities", {"id": SEEDED["utility"], "name": "Fuzz water"}),
        ("/api/v1/districts", {"id": SEEDED["district"], "name": "Fuzz district"}),
        (
            "/api/v1/assets",
            {
                "id": SEEDED["asset"],
                "name": "Fuzz main",
                "kind": "water_main",
                "district_id": SEEDED["district"],
                "utility_id": SEEDED["utility"],
                "lat": 36.0,
                "lon": 120.0,
            },
        ),
        (
            "/api/v1/sensors",
            {
                "id": SEEDED["sensor"],
                "asset_id": SEEDED["asset"],
                "utility_id": SEEDED["utility"],
                "kind": "water_pressure",
            },
        ),
    ):
        assert client.post(path, json=body).status_code == 201, path
    start = time.time() - 86_400
    pack = [{"bn": "", "bt": start, "n": SEEDED["sensor"], "t": i * 300, "v": 0.3 + i / 10_000} for i in range(288)]
    r = client.post("/api/v1/ingest", json=pack, headers={"X-Utility-Id": SEEDED["utility"]})
    assert r.status_code == 200 and r.json()["accepted"] == 288, r.text


@pytest.fixture(scope="module")
def fuzz_app(fuzz_engine: Engine) -> FastAPI:
    app = create_app(engine=fuzz_engine)
    app.state.fuzz_key = make_key(fuzz_engine)  # an admin key: every operation is reachable
    # generated logins with wrong keys, all from one address, would soon have it refused with 429 for every
    # later request, admin key or not (tests/api/test_login_limits.py): the fuzzer gets budgets it cannot spend
    app.state.login_limits = LoginLimits(window_s=60.0, per_address=10**9, per_key=10**9, max_entries=1000)
    seed(TestClient(app, headers={"X-API-Key": app.state.fuzz_key}))
    return app


@conformance_schema.hook("flatmap_path_parameters")
@schema.hook("flatmap_path_parameters")
def seeded_ids(context: Any, path_parameters: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Half the generated ids of a seeded resource are replaced by the seeded row's (never for DELETE,
    which would remove it for the rest of the run)."""
    op = context.operation
    seeded = SEEDED_PATHS.get(op.path) if op is not None and op.method.upper() != "DELETE" else None
    if not seeded:
        return st.just(path_parameters)
    return st.sampled_from([path_parameters, {**path_parameters, **seeded}])


# every operation gets its examples however slow the app is on a loaded machine, from a fresh database
FUZZ_SETTINGS: dict[str, Any] = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
}


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, **FUZZ_SETTINGS)
def test_no_server_errors(case: schemathesis.Case, fuzz_app: FastAPI) -> None:
    """Every operation, valid and invalid inputs alike: 2xx/4xx with a reason, never 5xx."""
    case.call_and_validate(app=fuzz_app, checks=[not_a_server_error], headers={"X-API-Key": fuzz_app.state.fuzz_key})


@conformance_schema.parametrize()
@settings(max_examples=CONFORMANCE_EXAMPLES, **FUZZ_SETTINGS)
def test_replies_are_as_documented(case: schemathesis.Case, fuzz_app: FastAPI) -> None:
    """Every reply has a documented status code and media type, and its body fits the documented schema."""
    case.call_and_validate(app=fuzz_app, checks=CONFORMANCE, headers={"X-API-Key": fuzz_app.state.fuzz_key})
