"""Names in the reader's language in a real browser: an asset and a district registered in Chinese and
English show the Chinese names on the alert list and the map in zh-CN, the English ones in en (issue 24)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from tests.console.conftest import City, LiveServer, Pipeline, add_culvert, breach, quiet
from tests.console.test_browser import CHROMIUM, _close_contexts, browser, login, shot

__all__ = ["_close_contexts", "browser"]  # the fixtures, used by name

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (make setup installs it)"),
]
NAMES = {"zh-CN": ("排水管涵 7 号", "瑶海区"), "en": ("Culvert No. 7", "Yaohai District")}


@pytest.fixture(scope="module")
def named_alert(live_server: LiveServer, city: City, pipeline: Pipeline, db_engine: Engine) -> dict[str, Any]:
    """A culvert and its district named in both languages, and a red alert on the culvert."""
    asset_id, sensor_id = add_culvert(db_engine, city, pipeline)
    with db_engine.begin() as conn:
        conn.execute(
            text("UPDATE assets SET name_zh = :zh, name_en = :en WHERE id = :id"),
            {"zh": NAMES["zh-CN"][0], "en": NAMES["en"][0], "id": asset_id},
        )
        conn.execute(
            text("UPDATE districts SET name_zh = :zh, name_en = :en WHERE id = :id"),
            {"zh": NAMES["zh-CN"][1], "en": NAMES["en"][1], "id": city.districts[0]},
        )
    fired = breach(live_server, city, pipeline, sensor_id, quiet(live_server, city, sensor_id))
    (alert,) = [a for a in fired if a.asset_id == asset_id and a.level.label == "red"]
    return {"asset_id": asset_id, "alert_id": alert.id}


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_alert_list_and_map_name_things_in_the_readers_language(
    browser: Any, live_server: LiveServer, city: City, named_alert: dict[str, Any], lang: str
) -> None:
    asset_name, district_name = NAMES[lang]
    other_asset, other_district = NAMES["en" if lang == "zh-CN" else "zh-CN"]
    page = login(browser, live_server, city.keys["operator"], "/console/", lang)
    row = page.locator(f"#alert-rows tr[data-alert-id='{named_alert['alert_id']}']")
    row.wait_for()
    said = row.inner_text()
    assert asset_name in said and district_name in said, said
    assert other_asset not in said and other_district not in said, said
    district_option = page.locator(f"#f-district option[value='{city.districts[0]}']").inner_text()
    assert district_option == district_name
    shot(page, f"alerts-names-{lang}")

    roads = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": "长江西路"},
             "geometry": {"type": "LineString", "coordinates": [[120.30, 36.01], [120.36, 36.01]]}}]}  # fmt: skip
    put = httpx.put(f"{live_server.url}/api/v1/basemap/layers/con-roads", params={"name_zh": "主干道",
                    "name_en": "Main roads", "kind": "roads"}, json=roads, headers={"X-API-Key": city.keys["admin"],
                    "content-type": "application/geo+json"})  # fmt: skip
    assert put.status_code in (200, 201), put.text
    page.goto("/console/map")
    page.wait_for_selector("#map canvas")
    page.wait_for_function("window.__console && window.__console.mapReady === true")
    box = page.locator("#map").bounding_box()
    x, y = page.evaluate(f"window.__console.districtPixel('{city.districts[0]}')")
    page.wait_for_function("window.__console.basemapDrawn().length > 0")
    assert ["con-roads", 1] in page.evaluate("window.__console.basemapDrawn()")
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_selector(f"#side[data-district='{city.districts[0]}']")
    assert page.inner_text("[data-role='district-name']") == district_name
    side = page.inner_text("#side")
    assert asset_name in side and other_asset not in side, side
    shot(page, f"map-names-{lang}")
