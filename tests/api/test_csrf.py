"""Cross-site writes on a session cookie are refused (resilience/api/csrf.py); the cookie's flags.

A write that reaches the route answers 404 here (no such alert): it was let past the check.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from resilience.api.main import create_app
from resilience.core.settings import Settings, get_settings
from tests.auth import make_key

WRITE = "/api/v1/alerts/999999999/ack"
HERE = "http://testserver"


@pytest.fixture(scope="module")
def app(db_engine: Engine) -> FastAPI:
    return create_app(engine=db_engine)


@pytest.fixture(scope="module")
def browser(app: FastAPI, db_engine: Engine) -> Iterator[TestClient]:
    """A logged-in console: the session cookie is its only credential."""
    with TestClient(app) as client:
        assert client.post("/api/v1/session", json={"key": make_key(db_engine, "operator")}).status_code == 200
        yield client


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": HERE},
        {"Origin": "http://TestServer:80"},  # the same origin, spelt otherwise
        {"Referer": f"{HERE}/console/alerts?x=1"},
        {"Sec-Fetch-Site": "same-origin"},
        {"Origin": HERE, "Sec-Fetch-Site": "same-origin", "Referer": f"{HERE}/console/"},
        {"Origin": "https://testserver"},  # this host over https: a proxy that ends TLS
    ],
)
def test_a_write_from_this_site_is_let_in(browser: TestClient, headers: dict[str, str]) -> None:
    assert browser.post(WRITE, json={}, headers=headers).status_code == 404


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "must name its origin"),
        ({"Origin": "https://evil.example"}, "may not write from origin"),
        ({"Origin": "null"}, "may not write from origin"),
        ({"Origin": "http://testserver.evil.example"}, "may not write from origin"),
        ({"Origin": "http://testserver:8080"}, "may not write from origin"),
        ({"Referer": "https://evil.example/testserver"}, "another site's page"),
        ({"Sec-Fetch-Site": "cross-site"}, "Sec-Fetch-Site: cross-site"),
        ({"Sec-Fetch-Site": "same-site", "Referer": f"{HERE}/"}, "Sec-Fetch-Site: same-site"),
        ({"Sec-Fetch-Site": "cross-site", "Origin": HERE}, "Sec-Fetch-Site: cross-site"),
    ],
)
def test_a_write_from_elsewhere_is_refused_with_its_reason(
    browser: TestClient, headers: dict[str, str], reason: str
) -> None:
    r = browser.post(WRITE, json={}, headers=headers)
    assert r.status_code == 403 and reason in r.json()["detail"], r.text


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
def test_every_unsafe_method_is_checked(browser: TestClient, method: str) -> None:
    r = browser.request(method, "/api/v1/districts/NO-SUCH", json={}, headers={"Referer": "https://evil.example/"})
    assert r.status_code == 403 and "another site's page" in r.json()["detail"], r.text


def test_reads_and_logout_follow_the_rule(browser: TestClient, app: FastAPI, db_engine: Engine) -> None:
    assert browser.get("/api/v1/session", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 200  # a read
    with TestClient(app) as other:
        assert other.post("/api/v1/session", json={"key": make_key(db_engine, "viewer")}).status_code == 200
        assert other.delete("/api/v1/session", headers={"Origin": "https://evil.example"}).status_code == 403
        assert other.delete("/api/v1/session", headers={"Origin": HERE}).status_code == 204


def test_another_sites_page_cannot_log_the_browser_in(app: FastAPI, db_engine: Engine) -> None:
    """Login CSRF: a foreign page would log the victim's browser into the attacker's key."""
    key = make_key(db_engine, "viewer")
    with TestClient(app) as client:
        for foreign in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
            r = client.post("/api/v1/session", json={"key": key}, headers=foreign)
            assert r.status_code == 403 and "set-cookie" not in r.headers, r.text
        assert client.post("/api/v1/session", json={"key": key}, headers={"Origin": HERE}).status_code == 200
        assert client.post("/api/v1/session", json={"key": key}).status_code == 200  # a script names no origin


def test_api_keys_in_a_header_are_not_cookie_authenticated(app: FastAPI, db_engine: Engine) -> None:
    with TestClient(app) as client:  # no cookie: a script with its key, whatever headers it sends
        headers = {"X-API-Key": make_key(db_engine, "operator"), "Origin": "https://evil.example"}
        assert client.post(WRITE, json={}, headers={**headers, "Sec-Fetch-Site": "cross-site"}).status_code == 404


def _cookie(app: FastAPI, db_engine: Engine, base_url: str = HERE) -> set[str]:
    """The attributes of the session cookie a login sets (names, and samesite with its value)."""
    with TestClient(app, base_url=base_url) as client:
        r = client.post("/api/v1/session", json={"key": make_key(db_engine, "viewer")})
        assert r.status_code == 200
        attributes = [a.strip().lower() for a in r.headers["set-cookie"].split(";")[1:]]
        return {a if a.startswith("samesite") else a.split("=")[0] for a in attributes}


def test_the_session_cookie_is_secure_except_on_plain_http_outside_production(app: FastAPI, db_engine: Engine) -> None:
    plain = _cookie(app, db_engine)
    assert {"httponly", "samesite=strict"} <= plain and "secure" not in plain
    assert {"secure", "httponly", "samesite=strict"} <= _cookie(app, db_engine, "https://testserver")
    for settings in (
        Settings(environment="production", webhook_secret="a real one"),
        Settings(session_cookie_secure=True),
    ):
        app.dependency_overrides[get_settings] = lambda s=settings: s
        try:
            assert "secure" in _cookie(app, db_engine)
        finally:
            app.dependency_overrides.clear()
