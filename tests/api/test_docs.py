"""The API's description (/openapi.json, /docs, /redoc): for authenticated callers, with assets of its own.

The browser test loads /docs and /redoc in Chromium with every request off loopback refused, as on a city's
private network without the internet, and waits for the operations to be drawn.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from resilience.api.main import create_app
from tests.auth import make_key
from tests.live_server import LiveServer, live_server
from tests.registry import register_sensors

PAGES = ("/openapi.json", "/docs", "/redoc")
CHROMIUM = Path("/usr/bin/chromium")
ASSET = re.compile(r"""(?:src|href)=["']([^"']+)["']""")
TIMEOUT_MS = 30_000
ARTIFACTS = Path(__file__).resolve().parents[2] / ".local" / "test-artifacts" / "api"


@pytest.fixture(scope="module")
def app(db_engine: Engine) -> FastAPI:
    return create_app(engine=db_engine)


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_callers_are_refused_with_a_reason(app: FastAPI, path: str) -> None:
    r = TestClient(app).get(path)
    assert r.status_code == 401 and "API key is required" in r.json()["detail"]
    bad = TestClient(app).get(path, headers={"X-API-Key": "rk_000000000000_" + "x" * 43})
    assert bad.status_code == 401


@pytest.mark.parametrize("role", ["viewer", "utility"])
def test_any_key_reads_the_schema(app: FastAPI, db_engine: Engine, role: str) -> None:
    utility = None
    if role == "utility":
        utility = f"DOCS-{uuid.uuid4().hex[:6].upper()}"
        with db_engine.begin() as conn:
            register_sensors(
                conn,
                utility=utility,
                asset=f"{utility}-A",
                asset_kind="water_main",
                sensor_kind="water_flow",
                unit="m**3/h",
                sensor_ids=[f"{utility}-S1"],
                interval_s=60,
            )
    client = TestClient(app, headers={"X-API-Key": make_key(db_engine, role, utility)})
    spec = client.get("/openapi.json").json()
    assert "/api/v1/alerts" in spec["paths"] and spec["info"]["title"] == app.title
    assert not {"/openapi.json", "/docs", "/redoc"} & set(spec["paths"])
    for page in ("/docs", "/redoc"):
        r = client.get(page)
        assert r.status_code == 200 and "text/html" in r.headers["content-type"]


def test_a_console_session_reads_the_docs(app: FastAPI, db_engine: Engine) -> None:
    with TestClient(app) as browser:
        assert browser.post("/api/v1/session", json={"key": make_key(db_engine, "engineer")}).status_code == 200
        for page in PAGES:
            assert browser.get(page).status_code == 200, page


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_pages_load_nothing_from_elsewhere(app: FastAPI, db_engine: Engine, page: str) -> None:
    client = TestClient(app, headers={"X-API-Key": make_key(db_engine, "viewer")})
    r = client.get(page)
    assert "default-src 'self'" in r.headers["content-security-policy"]  # the browser loads from here only
    html = r.text
    assert "://" not in html.replace("http://www.w3.org", ""), "an absolute URL: the page reaches off this host"
    assets = ASSET.findall(html)
    assert assets and all(a.startswith("/console/static/vendor/") for a in assets), assets
    for asset in assets:
        r = TestClient(app).get(asset)  # static files carry no data: served to anyone
        assert r.status_code == 200 and len(r.content) > 500, f"{asset}: run make console"


@pytest.fixture(scope="module")
def server(app: FastAPI) -> Iterator[LiveServer]:
    with live_server(app) as s:
        yield s


@pytest.mark.slow  # a real browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (make setup installs it)")
@pytest.mark.parametrize(("page", "drawn"), [("/docs", ".opblock"), ("/redoc", "[data-section-id]")])
def test_the_docs_draw_the_operations_without_the_internet(
    server: LiveServer, db_engine: Engine, page: str, drawn: str
) -> None:
    from playwright.sync_api import Route, sync_playwright

    reached: list[str] = []
    said: list[str] = []  # the page's console errors

    def loopback_only(route: Route) -> None:
        if route.request.url.startswith(server.url):
            route.continue_()
        else:
            reached.append(route.request.url)
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            context = browser.new_context(base_url=server.url)
            context.route("**/*", loopback_only)
            login = context.request.post("/api/v1/session", data={"key": make_key(db_engine, "viewer")})
            assert login.status == 200
            tab: Any = context.new_page()
            tab.on("console", lambda m: said.append(m.text) if m.type == "error" else None)
            tab.set_default_timeout(TIMEOUT_MS)
            tab.goto(page)
            tab.wait_for_selector(drawn)
            assert tab.locator(drawn).count() > 10
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            tab.screenshot(path=str(ARTIFACTS / f"{page.strip('/')}.png"))
        finally:
            browser.close()
    assert reached == [], "the page tried to reach off this host"
    # the one thing the policy refuses is ReDoc's logo from its CDN (a sidebar footer, hidden when it fails)
    assert [e for e in said if "cdn.redoc.ly" not in e] == [], said
