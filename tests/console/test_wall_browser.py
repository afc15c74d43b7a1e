"""The operations wall in a real browser at the wall's 1920 x 1080: fully translated (no English word in the
Chinese wall's own text), one screen without scrolling, a new red arriving live on the feed and the map, the
incident opening on a click, and a district imported as GeoJSON through the registry API drawn on the map.

Entity names (districts, assets, utilities, the key's name) are the registry's and may still be English until
bilingual names land; they are marked ``data-entity`` and left out of the no-English check.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from resilience.core.display import unit_label
from resilience.core.domain import SENSOR_KINDS
from tests.console.conftest import WAIT_S, City, LiveServer, Pipeline, add_culvert, breach, quiet
from tests.console.test_browser import ARGS, CHROMIUM, CJK, TIMEOUT_MS

SHOTS = Path("/work/helpers/shots")  # outside the repository, for the report
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
# unit symbols read the same in Chinese (60 %LEL, 0.3 MPa): the letters of every sensor kind's unit label
UNIT_WORDS = {w for s in SENSOR_KINDS.values() for w in LATIN_WORD.findall(unit_label(s.unit))}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (make setup installs it)"),
]


@pytest.fixture(scope="module")
def wall_browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def open_wall(wall_browser: Any, live_server: LiveServer) -> Iterator[Any]:
    contexts: list[Any] = []

    def go(key: str, lang: str) -> Any:
        context = wall_browser.new_context(
            viewport={"width": 1920, "height": 1080}, timezone_id="Asia/Shanghai", base_url=live_server.url
        )
        contexts.append(context)
        context.add_init_script(f"localStorage.setItem('console.lang', '{lang}')")
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto("/console/wall")
        page.wait_for_url(re.compile(r"/login\?next="))
        page.fill("#k", key)
        page.click("button")
        page.wait_for_url(re.compile(r"/console/wall$"))
        page.wait_for_selector("body[data-ready='1']")
        page.wait_for_function("window.__console && window.__console.mapReady === true")
        page.wait_for_selector("[data-role='devices-total']")
        page.wait_for_selector("#live[data-state='open']")
        return page

    yield go
    for c in contexts:
        c.close()


def own_text(page: Any) -> str:
    """The wall's own words: the page's text without registry names and the login's name."""
    return str(
        page.evaluate("""() => { const c = document.body.cloneNode(true);
        c.querySelectorAll('[data-entity], #who, #lang').forEach(e => e.remove()); return c.innerText; }""")
    )


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_the_wall_is_one_screen_in_the_viewers_language(
    open_wall: Any, city: City, pipeline: Pipeline, db_engine: Engine, live_server: LiveServer, lang: str
) -> None:
    asset_id, sensor_id = add_culvert(db_engine, city, pipeline)
    page = open_wall(city.keys["viewer"], lang)
    since = quiet(live_server, city, sensor_id)
    (red,) = [a for a in breach(live_server, city, pipeline, sensor_id, since) if a.asset_id == asset_id]
    page.wait_for_selector(f"#wall-feed [data-alert-id='{red.id}']")
    page.click(f"#wall-feed [data-alert-id='{red.id}']")
    page.wait_for_selector("#wall-incident [data-role='first-action']")
    assert page.evaluate("[...window.__i18nMissing]") == []
    assert page.evaluate("document.documentElement.lang") == lang
    text = own_text(page)
    if lang == "zh-CN":
        words = [w for w in LATIN_WORD.findall(text) if w not in UNIT_WORDS]
        assert not words, words[:20]
        assert "图例" in text and "在线率" in text
    else:
        assert not CJK.search(text), CJK.findall(text)[:20]
        assert "Legend" in text and "online" in text
    legend = page.inner_text("[data-role='legend']")
    assert all(w in legend for w in (["红色", "橙色", "耦合"] if lang == "zh-CN" else ["red", "orange", "Coupled"]))
    sizes = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
    assert sizes[0] <= 1920 and sizes[1] <= 1080, sizes  # no scrolling on the wall
    page.wait_for_function("Number(document.querySelector(\"[data-role='active-red'] b\").innerText) >= 1")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"wall-{lang}.png"))


def test_a_new_red_reading_reaches_the_wall_live(
    open_wall: Any, city: City, pipeline: Pipeline, db_engine: Engine, live_server: LiveServer
) -> None:
    asset_id, sensor_id = add_culvert(db_engine, city, pipeline)  # on the map before the wall opens
    page = open_wall(city.keys["operator"], "zh-CN")
    assert page.evaluate(f"window.__console.assetLevel('{asset_id}')") in ("none", "blue", "yellow")
    red_before = int(page.inner_text("[data-role='active-red'] b").replace(",", ""))
    since = quiet(live_server, city, sensor_id)
    (red,) = [a for a in breach(live_server, city, pipeline, sensor_id, since) if a.asset_id == asset_id]
    page.wait_for_selector(f"#wall-feed li[data-alert-id='{red.id}'][data-level='red'].flash")
    page.wait_for_function(f"window.__console.assetLevel('{asset_id}') === 'red'")  # the map's dot turns red
    page.wait_for_function(  # and the counts follow
        f"Number(document.querySelector(\"[data-role='active-red'] b\").innerText.replace(/,/g, '')) > {red_before}"
    )
    page.click(f"#wall-feed li[data-alert-id='{red.id}']")
    page.wait_for_selector(f"#wall-incident[data-alert-id='{red.id}'] [data-role='population']")
    assert "120,000" in page.inner_text("#wall-incident [data-role='population']")
    assert page.inner_text("#wall-incident [data-role='first-action']").strip()


def test_a_district_imported_as_geojson_is_drawn_on_the_wall(
    open_wall: Any, city: City, live_server: LiveServer
) -> None:
    district = f"WALL-{uuid.uuid4().hex[:6].upper()}"
    ring = [[120.36, 36.0], [120.39, 36.0], [120.39, 36.03], [120.36, 36.03], [120.36, 36.0]]
    feature = {"type": "Feature", "id": district, "properties": {"name": "Lakeside", "population": 7000},
               "geometry": {"type": "Polygon", "coordinates": [ring]}}  # fmt: skip
    reply = httpx.post(
        f"{live_server.url}/api/v1/registry/import",
        content=json.dumps({"type": "FeatureCollection", "features": [feature]}).encode(),
        headers={"X-API-Key": city.keys["admin"], "content-type": "application/geo+json"},
        timeout=WAIT_S,
    )
    assert reply.status_code == 200 and reply.json()["committed"], reply.text
    page = open_wall(city.keys["viewer"], "en")
    drawn = page.evaluate(f"""() => {{
        const c = window.__echarts.getInstanceByDom(document.querySelector('#wall-map'));
        const region = c.getModel().getComponent('geo').coordinateSystem.getRegion('{district}');
        return region ? c.convertToPixel({{geoIndex: 0}}, [120.375, 36.015]) : null; }}""")
    assert drawn is not None and all(v == v and abs(v) < 5000 for v in drawn), drawn  # a region with a place on screen


class Restartable:
    """The app under uvicorn on one fixed loopback port, stopped and started again as a deploy would."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server: Any = None

    def start(self) -> None:
        import uvicorn

        from resilience.api.main import create_app

        self.app = create_app(engine=self.engine)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.sock = sock
        self.server = uvicorn.Server(
            uvicorn.Config(self.app, lifespan="off", log_level="warning", timeout_graceful_shutdown=2)
        )
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + WAIT_S
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.server.started, "uvicorn did not start"

    def stop(self) -> None:
        feed = getattr(self.app.state, "alert_feed", None)
        if feed is not None:
            feed.stop(WAIT_S)
        self.server.should_exit = True
        self.thread.join(WAIT_S)
        self.sock.close()
        assert not self.thread.is_alive(), "uvicorn did not stop"


def test_the_wall_comes_back_by_itself_after_the_api_restarts(
    wall_browser: Any, city: City, pipeline: Pipeline, db_engine: Engine, live_server: LiveServer
) -> None:
    api = Restartable(db_engine)
    api.start()
    context = wall_browser.new_context(viewport={"width": 1920, "height": 1080}, base_url=api.url)
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto("/console/wall")
        page.wait_for_url(re.compile(r"/login\?next="))
        page.fill("#k", city.keys["viewer"])
        page.click("button")
        page.wait_for_selector("#live[data-state='open']")
        before = page.evaluate("window.__console.snapshots")
        api.stop()
        page.wait_for_selector("#live[data-state='error']")  # the wall says the link is down
        asset_id, sensor_id = add_culvert(db_engine, city, pipeline)
        since = quiet(live_server, city, sensor_id)  # readings go in through the other server meanwhile
        (red,) = [a for a in breach(live_server, city, pipeline, sensor_id, since) if a.asset_id == asset_id]
        api.start()
        page.wait_for_selector("#live[data-state='open']")  # nobody touched the page
        page.wait_for_function(f"window.__console.snapshots > {before}")
        page.wait_for_selector(f"#wall-feed li[data-alert-id='{red.id}']")  # what happened while it was away
    finally:
        context.close()
        if api.server is not None and api.thread.is_alive():
            api.stop()
