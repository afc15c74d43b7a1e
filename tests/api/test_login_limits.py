"""Guessing keys costs the guesser (resilience/api/login_limits.py), against the real app and database.

Each client address is a TestClient of its own (``client=``); the limiter's window runs on a clock the test
moves, so "after the window" needs no sleep and holds on a loaded machine.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import Engine

from resilience.api.login_limits import LoginLimits
from resilience.api.main import create_app
from resilience.store import api_keys
from tests.auth import make_key

WINDOW_S, PER_ADDRESS, PER_KEY = 300.0, 20, 10


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def app(db_engine: Engine, clock: Clock) -> FastAPI:
    app = create_app(engine=db_engine)
    app.state.login_limits = LoginLimits(
        window_s=WINDOW_S, per_address=PER_ADDRESS, per_key=PER_KEY, max_entries=1000, clock=clock
    )
    return app


def from_address(app: FastAPI, address: str) -> TestClient:
    return TestClient(app, client=(address, 40000))


def refused(name: str, limit: str) -> float:
    return REGISTRY.get_sample_value(name, {"limit": limit}) or 0.0


def wrong_key(key: str) -> str:
    """The same key id with another secret."""
    key_id = api_keys.split_key(key)[0]  # type: ignore[index]
    return f"rk_{key_id}_{'x' * 43}"


def login(client: TestClient, key: str) -> Any:
    return client.post("/api/v1/session", json={"key": key})


def with_header(client: TestClient, key: str) -> Any:
    return client.get("/api/v1/alerts", headers={"X-API-Key": key})


@pytest.mark.parametrize("attempt", [login, with_header], ids=["login", "x-api-key"])
def test_an_address_that_keeps_guessing_waits_out_the_window(
    app: FastAPI, db_engine: Engine, clock: Clock, attempt: Callable[[TestClient, str], Any]
) -> None:
    good = make_key(db_engine, "viewer")
    attacker = from_address(app, "203.0.113.9")
    before = refused("lifeline_api_auth_refused_total", "address")
    statuses = [attempt(attacker, f"rk_{i:012x}_{'y' * 43}").status_code for i in range(200)]
    assert statuses[: PER_ADDRESS - 1] == [401] * (PER_ADDRESS - 1)
    assert statuses[PER_ADDRESS - 1 :] == [429] * (200 - PER_ADDRESS + 1)
    assert refused("lifeline_api_auth_refused_total", "address") - before == 200 - PER_ADDRESS + 1
    r = attempt(attacker, good)  # blocked before the key is looked at: a right guess is not tried either
    assert r.status_code == 429 and "too many failed key checks" in r.json()["detail"]
    assert 1 <= int(r.headers["Retry-After"]) <= WINDOW_S
    assert attempt(from_address(app, "198.51.100.20"), good).status_code == 200  # another address: let in
    clock.now += WINDOW_S
    assert attempt(attacker, good).status_code == 200  # the same address after the window


def test_fifty_wrong_secrets_of_one_key_from_rotating_addresses(app: FastAPI, db_engine: Engine) -> None:
    """Past the key id's budget every wrong secret for it blocks its address at once; its holder still
    logs in from an address of its own, and keys nobody guessed are untouched."""
    target = make_key(db_engine, "operator")
    before = refused("lifeline_api_auth_refused_total", "key_id")
    statuses = [login(from_address(app, f"192.0.2.{i}"), wrong_key(target)).status_code for i in range(50)]
    assert statuses[:PER_KEY] == [401] * PER_KEY and statuses[PER_KEY:] == [429] * (50 - PER_KEY)
    assert refused("lifeline_api_auth_refused_total", "key_id") - before == 50 - PER_KEY
    assert login(from_address(app, "192.0.2.49"), target).status_code == 429  # that address guessed: blocked
    assert login(from_address(app, "192.0.2.3"), target).status_code == 200  # guessed before the lock: 1 failure
    assert login(from_address(app, "198.51.100.30"), target).status_code == 200  # the holder's own address
    assert with_header(from_address(app, "198.51.100.30"), target).status_code == 200
    other = make_key(db_engine, "viewer")
    assert login(from_address(app, "198.51.100.31"), other).status_code == 200


def test_others_failures_on_another_key_id_do_not_lock_a_login_out(app: FastAPI, db_engine: Engine) -> None:
    guessed, mine = make_key(db_engine, "viewer"), make_key(db_engine, "operator")
    for i in range(30):  # several addresses guess at one key id until it is under attack
        login(from_address(app, f"192.0.2.{100 + i % 3}"), wrong_key(guessed))
    desk = from_address(app, "198.51.100.40")
    assert login(desk, wrong_key(mine)).status_code == 401  # a typo costs one failure, no more
    assert login(desk, mine).status_code == 200
    assert desk.get("/api/v1/session").json()["key_id"] == api_keys.split_key(mine)[0]  # type: ignore[index]


def test_a_blocked_address_keeps_its_open_sessions(app: FastAPI, db_engine: Engine) -> None:
    """A console already logged in behind the same address is not locked out by a guesser beside it."""
    browser = from_address(app, "198.51.100.50")
    assert login(browser, make_key(db_engine, "viewer")).status_code == 200
    for i in range(PER_ADDRESS):
        with_header(browser, f"rk_{i:012x}_{'z' * 43}")
    assert with_header(browser, make_key(db_engine, "viewer")).status_code == 429
    assert browser.get("/api/v1/alerts").status_code == 200  # the session cookie alone


def test_failures_are_logged_with_their_fields_and_bounded(
    app: FastAPI, db_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    attacker = from_address(app, "203.0.113.77")
    with caplog.at_level(logging.WARNING, logger="resilience.api.auth"):
        for i in range(100):
            login(attacker, f"rk_{i:012x}_{'w' * 43}")
    records = [vars(r) for r in caplog.records if vars(r).get("client") == "203.0.113.77"]
    events = [r["event"] for r in records]
    assert events == ["auth_failed"] * PER_ADDRESS + ["auth_limited"]  # refused attempts are counted only
    first = records[0]
    assert (first["key_id"], first["credential"]) == ("000000000000", "login")
    assert records[-1]["retry_after_s"] == WINDOW_S
    metrics = TestClient(app).get("/metrics", headers={"X-API-Key": make_key(db_engine, "viewer")}).text
    assert 'lifeline_api_auth_refused_total{limit="address"}' in metrics
    assert 'lifeline_api_auth_failures_total{credential="login"}' in metrics


def test_rotating_addresses_and_key_ids_cannot_grow_the_tables() -> None:
    clock = Clock()
    limits = LoginLimits(window_s=WINDOW_S, per_address=5, per_key=3, max_entries=500, clock=clock)
    for i in range(20_000):
        limits.failed(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", f"{i:012x}", "key")
    assert len(limits.addresses) == 500 and len(limits.keys) == 500
    # the names that keep failing stay; the table forgets the ones that stopped
    for _ in range(5):
        limits.failed("203.0.113.1", "feedfeedfeed", "key")
    for i in range(499):
        limits.failed(f"172.16.{i >> 8}.{i & 255}", None, "key")
    assert limits.blocked_for("203.0.113.1") is not None
    clock.now += WINDOW_S
    assert limits.blocked_for("203.0.113.1") is None
