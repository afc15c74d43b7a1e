"""The console in a real browser (Debian's Chromium driven by Python playwright) against the live server.

Each test waits for conditions with timeouts, never for fixed times. Screenshots of every page in both
languages go to .local/test-artifacts/console/.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from sqlalchemy import Engine

from tests.console.conftest import (
    WAIT_S,
    City,
    LiveServer,
    Pipeline,
    add_culvert,
    alert_state,
    breach,
    post_readings,
    quiet,
)

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / ".local" / "test-artifacts" / "console"
ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 20_000
CJK = re.compile(r"[\u3400-\u9fff]")
SHANGHAI = timezone(timedelta(hours=8))

pytestmark = [
    pytest.mark.slow,  # a real browser
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (make setup installs it)"),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def incident(live_server: LiveServer, city: City, pipeline: Pipeline, db_engine: Engine) -> dict[str, Any]:
    """A culvert whose methane sensor has a quiet half hour and then a red breach, already alerted."""
    asset_id, sensor_id = add_culvert(db_engine, city, pipeline)
    since = quiet(live_server, city, sensor_id)
    fired = breach(live_server, city, pipeline, sensor_id, since)
    (alert,) = [a for a in fired if a.asset_id == asset_id and a.level.label == "red"]
    return {"asset_id": asset_id, "sensor_id": sensor_id, "alert_id": alert.id}


LOGS: list[str] = []
OPEN: list[Any] = []  # the browser contexts a test opened, closed after it whatever happened


@pytest.fixture(autouse=True)
def _close_contexts() -> Iterator[None]:
    yield
    while OPEN:
        OPEN.pop().close()


def login(browser: Any, server: LiveServer, key: str, path: str, lang: str = "zh-CN") -> Any:
    """A fresh browser context logged in through the /login form, on ``path``, in ``lang``."""
    context = browser.new_context(
        viewport={"width": 1400, "height": 900}, timezone_id="Asia/Shanghai", base_url=server.url
    )
    OPEN.append(context)
    context.add_init_script(
        f"if (!localStorage.getItem('console.lang')) localStorage.setItem('console.lang', '{lang}')"
    )
    page = context.new_page()
    page.on("console", lambda m: LOGS.append(m.text))
    page.on("requestfailed", lambda r: LOGS.append(f"failed {r.url} {r.failure}"))
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(path)
    page.wait_for_url(re.compile(r"/login\?next="))
    page.wait_for_load_state("load")
    page.fill("#k", key)
    page.click("button")
    try:
        page.wait_for_url(lambda url: urlparse(url).path == urlparse(path).path)
    except Exception as exc:
        raise AssertionError(f"login did not reach {path}: at {page.url}; the page said {LOGS[-8:]}") from exc
    page.wait_for_selector("body[data-ready='1']")
    return page


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def act(page: Any, selector: str, state: str) -> None:
    page.click(f"#panel {selector}")
    page.wait_for_selector(f"#panel[data-state='{state}']")


def test_a_red_alert_arrives_live_and_the_loop_closes(
    browser: Any, live_server: LiveServer, city: City, pipeline: Pipeline, db_engine: Engine
) -> None:
    page = login(browser, live_server, city.keys["operator"], "/console/")
    page.wait_for_selector("#live[data-state='open']")
    asset_id, sensor_id = add_culvert(db_engine, city, pipeline)
    since = quiet(live_server, city, sensor_id)
    fired = breach(live_server, city, pipeline, sensor_id, since)  # after the page has its snapshot
    (alert,) = [a for a in fired if a.asset_id == asset_id and a.level.label == "red"]
    row = f"tr[data-alert-id='{alert.id}']"
    page.wait_for_selector(f"{row}.flash[data-level='red'][data-state='firing']")
    page.wait_for_selector("#banner", state="visible")
    page.wait_for_function("window.__console.beeps >= 1 && window.__console.events >= 1")
    shot(page, "alerts-live-red-zh-CN")
    page.click(row)
    page.wait_for_selector(f"#panel[data-alert-id='{alert.id}'] button[data-act='ack']")
    fired_at = alert.fired_at.astimezone(SHANGHAI).strftime("%H:%M")
    assert fired_at in page.inner_text("#panel")  # the viewer's time zone, not UTC
    # what the detector said, in Chinese: the sensor kind, the value and the limit it reached (not the English)
    said = page.inner_text("#panel [data-role='alert-explanation']")
    assert "甲烷" in said and "达到红色限值" in said and "reached" not in said, said
    fired_note = page.inner_text("#panel li[data-step-kind='fired']")
    assert "达到红色限值" in fired_note and "reached" not in fired_note, fired_note
    assert "达到红色限值" in page.inner_text(row)  # the list says it the same way
    act(page, "button[data-act='ack']", "acknowledged")
    page.wait_for_selector(f"{row}:not(.flash)[data-state='acknowledged']")
    page.wait_for_selector("#banner", state="hidden")
    assert alert_state(db_engine, alert.id) == "acknowledged"
    page.fill("#panel #unit", "gas-east-crew")
    page.click("#panel button[data-act='assign']")
    page.wait_for_selector("#panel li[data-step-kind='assigned']")
    for step in ("dispatch", "on_site", "disposed", "feedback"):
        page.click(f"#panel button[data-step='{step}']")
        page.wait_for_selector(f"#panel li[data-step-kind='{step}']")
    page.click("#panel button[data-act='resolve']")  # without a note: refused in the page
    page.wait_for_function("(document.querySelector('#panel #act-error')?.innerText || '').trim().length > 0")
    page.fill("#panel #note", "valve closed, culvert ventilated")
    page.click("#panel button[data-act='resolve']")  # methane is still high: refused with the reason
    page.wait_for_function("(document.querySelector('#panel #act-error')?.innerText || '').includes('condition')")
    assert alert_state(db_engine, alert.id) == "acknowledged"
    page.check("#panel #override")  # the duty officer insists: an override with the note as its reason
    act(page, "button[data-act='resolve']", "resolved")
    page.wait_for_selector("#panel tr[data-response='disposed'] .met, #panel tr[data-response='disposed'] .late")
    assert page.inner_text("#panel [data-role='condition']").startswith("条件仍在")
    shot(page, "alert-closed-loop-zh-CN")
    # the leak goes on: after the rule's hold the alert fires again, flashing and sounding, marked re-opened
    beeps = page.evaluate("window.__console.beeps")
    hold = pipeline.alerts.rules.reopen_after_rules(alert.rules)
    assert pipeline.alerts.tick(datetime.now(UTC) + timedelta(seconds=hold + 1)).reopened >= 1
    page.wait_for_selector(f"{row}.flash[data-state='firing']")
    page.wait_for_function(f"window.__console.beeps > {beeps}")
    assert "第 2 次发布" in page.inner_text(f"{row} [data-role='state']")
    # and the list shows what the sensor reads now, not the onset value
    post_readings(live_server, city, sensor_id, [(time.time(), 41.5)])
    page.wait_for_function(f"(document.querySelector(\"{row} [data-role='now']\")?.innerText || '').includes('41.5')")
    page.wait_for_function("(document.querySelector(\"#panel [data-role='now']\")?.innerText || '').includes('41.5')")
    assert "已持续" in page.inner_text(f"{row} [data-role='lasting']")
    shot(page, "alert-reopened-live-value-zh-CN")
    body = httpx.get(
        f"{live_server.url}/api/v1/alerts/{alert.id}", headers={"X-API-Key": city.keys["viewer"]}, timeout=WAIT_S
    ).json()
    assert body["resolved_by"] is None  # re-opened: the resolution is in the timeline
    kinds = [t["kind"] for t in body["transitions"]]
    assert kinds[:2] == ["fired", "acknowledged"] and {"disposed", "resolved", "reopened"} <= set(kinds)
    assert body["state"] == "firing" and body["fire_count"] == 2 and body["condition"] == "active"
    resolved = next(t for t in body["transitions"] if t["kind"] == "resolved")
    assert resolved["data"]["override"] is True and "valve closed" in resolved["note"]


def test_reds_waiting_at_login_get_the_banner(
    browser: Any, live_server: LiveServer, city: City, incident: dict[str, Any]
) -> None:
    """Unacknowledged reds that were there before the page opened count too: the banner and the sound."""
    page = login(browser, live_server, city.keys["operator"], "/console/")
    page.wait_for_selector(f"tr[data-alert-id='{incident['alert_id']}'].flash")
    page.wait_for_selector("#banner", state="visible")
    page.wait_for_function("window.__console.beeps >= 1")
    waiting = int(re.search(r"\d+", page.inner_text("#banner")).group())  # type: ignore[union-attr]
    assert waiting == page.locator("#alert-rows tr.flash[data-level='red']").count() >= 1


def test_a_viewer_looks_but_cannot_act(
    browser: Any, live_server: LiveServer, city: City, incident: dict[str, Any]
) -> None:
    page = login(browser, live_server, city.keys["viewer"], "/console/")
    page.select_option("#f-state", "")
    page.click(f"tr[data-alert-id='{incident['alert_id']}']")
    page.wait_for_selector("#panel [data-role='read-only']")
    assert page.query_selector_all("#panel button[data-act]") == []
    assert page.is_hidden("#nav a[data-view='reports']")  # history pages are not offered to a viewer
    page.goto("/console/reports")
    page.wait_for_selector("[data-role='load-error']")


PAGES = {
    "alerts": "/console/",
    "map": "/console/map",
    "spectrum": "/console/spectrum",
    "engineer": "/console/engineer?sensors={sensor}",
    "reports": "/console/reports",
    "asset": "/console/asset?id={asset}",
}


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_every_page_is_fully_translated(
    browser: Any, live_server: LiveServer, city: City, incident: dict[str, Any], lang: str
) -> None:
    page = login(browser, live_server, city.keys["admin"], "/console/", lang)
    for name, path in PAGES.items():
        page.goto(path.format(sensor=incident["sensor_id"], asset=incident["asset_id"]))
        page.wait_for_selector("body[data-ready='1']")
        page.wait_for_load_state("networkidle") if name != "alerts" else page.wait_for_selector("tr[data-alert-id]")
        assert page.evaluate("[...window.__i18nMissing]") == [], (name, lang)
        assert page.evaluate("document.documentElement.lang") == lang
        if lang == "en":
            text = page.inner_text("body").replace("中文", "")  # the switch names the other language
            assert not CJK.search(text), (name, CJK.findall(text)[:10])
        shot(page, f"{name}-{lang}")
    page.click("#lang")  # the switch is remembered by this browser
    page.wait_for_selector("body[data-ready='1']")
    assert page.evaluate("localStorage.getItem('console.lang')") == ("zh-CN" if lang == "en" else "en")


def test_the_asset_page_shades_the_anomaly_and_draws_the_limits(
    browser: Any, live_server: LiveServer, city: City, incident: dict[str, Any]
) -> None:
    page = login(browser, live_server, city.keys["engineer"], f"/console/asset?id={incident['asset_id']}")
    chart = f".chart[data-sensor='{incident['sensor_id']}']"
    page.wait_for_selector(chart)
    option = page.evaluate(f"""() => {{ const o = window.__echarts.getInstanceByDom(document.querySelector("{chart}"))
        .getOption().series[0]; return {{points: o.data.length, spans: o.markArea.data.length,
        limits: o.markLine.data.map(m => m.yAxis)}}; }}""")
    assert option["spans"] >= 1 and option["points"] >= 31
    assert sorted(option["limits"]) == [5, 10, 20, 50]
    assert "Culvert" in page.inner_text("[data-role='asset-name']")


def test_the_map_and_the_spectrum_open_on_a_click(
    browser: Any, live_server: LiveServer, city: City, incident: dict[str, Any]
) -> None:
    page = login(browser, live_server, city.keys["operator"], "/console/map")
    page.wait_for_selector("#map canvas")
    page.wait_for_function("window.__console && window.__console.mapReady === true")  # first frame drawn
    box = page.locator("#map").bounding_box()
    x, y = page.evaluate(f"window.__console.districtPixel('{city.districts[1]}')")
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_selector(f"#side[data-district='{city.districts[1]}']")
    assert page.inner_text("[data-role='district-name']") == "Hillside"
    shot(page, "map-district-clicked-zh-CN")
    page.goto("/console/spectrum")
    page.wait_for_selector("#heat canvas")
    box = page.locator("#heat").bounding_box()
    x, y = page.evaluate(f"window.__console.cellPixel('gas_explosion', '{city.districts[0]}')")
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_selector(f"#cell[data-cell='gas_explosion|{city.districts[0]}'] a[href*='{incident['asset_id']}']")
    shot(page, "spectrum-cell-clicked-zh-CN")
    page.wait_for_selector(
        "#replay", state="visible"
    )  # an operator may replay the last 24 h: a day ago the cell was quiet
    level = f"window.__console.cellLevel('gas_explosion', '{city.districts[0]}')"
    assert page.evaluate(level) == "red"
    page.evaluate("document.querySelector('#slider').value = '0'")
    page.dispatch_event("#slider", "input")
    assert page.evaluate(level) == "none"
    page.click("#now")
    assert page.evaluate(level) == "red"


@pytest.mark.parametrize(("lang", "says"), [("zh-CN", "风险为"), ("en", "risk at")])
def test_the_risk_explanation_is_in_the_viewers_language(
    browser: Any, live_server: LiveServer, city: City, incident: dict[str, Any], lang: str, says: str
) -> None:
    page = login(browser, live_server, city.keys["engineer"], f"/console/asset?id={incident['asset_id']}", lang)
    page.wait_for_selector("[data-role='risk-explanation']")
    texts = page.eval_on_selector_all("[data-role='risk-explanation']", "els => els.map(e => e.textContent)")
    assert texts and all(says in t for t in texts), texts
    assert page.evaluate("[...window.__i18nMissing]") == []
    if lang == "zh-CN":  # the reasons too, not only the head: no English words of the model's sentence left
        assert not any(w in t for t in texts for w in ("breach", "sensor", "criticality", "away")), texts
    for chart in ("#risk-chart", f".chart[data-sensor='{incident['sensor_id']}']"):
        tip = tooltip(page, chart)
        if chart == "#risk-chart":  # the series has the incident: its last point is the red the table shows
            assert tip["last"] >= 0.8, tip
        assert "GMT+8" in tip["time"], tip  # the viewer's zone (Asia/Shanghai), named
        assert bool(CJK.search(tip["text"])) is (lang == "zh-CN"), tip  # series names in the viewer's language
    shot(page, f"asset-tooltip-{lang}")


def tooltip(page: Any, selector: str) -> dict[str, Any]:
    """The tooltip a chart shows for its newest point (shown through ECharts' own action, as a hover would)."""
    page.wait_for_selector(f"{selector} canvas")
    page.wait_for_function(
        f"""() => {{ const c = window.__echarts.getInstanceByDom(document.querySelector("{selector}"));
        return c && c.getOption().series.some(s => s.data.length); }}"""
    )
    page.evaluate(
        f"""() => {{ const c = window.__echarts.getInstanceByDom(document.querySelector("{selector}"));
        const i = c.getOption().series.findIndex(s => s.data.length);
        c.dispatchAction({{type: "showTip", seriesIndex: i, dataIndex: c.getOption().series[i].data.length - 1}}); }}"""
    )
    page.wait_for_selector(f"{selector} [data-role='tooltip-time']")
    return page.eval_on_selector(
        selector,
        """el => ({time: el.querySelector("[data-role='tooltip-time']").textContent,
                  text: el.querySelector("[data-role='tooltip-time']").parentElement.textContent,
                  last: Math.max(...window.__echarts.getInstanceByDom(el).getOption().series
                    .map(s => s.data.length ? Number(s.data[s.data.length - 1][1]) : 0))})""",
    )


def test_one_incident_is_one_row_with_its_members_named(
    browser: Any, live_server: LiveServer, city: City, pipeline: Pipeline, db_engine: Engine
) -> None:
    """Two mains of one district at orange: the district's incident alert is the one row, naming and linking
    both assets; their own alerts are not rows of their own, nor is a district alert held for one asset."""
    from resilience.core.domain import Level
    from resilience.core.events import RiskLevelEvent

    district = city.districts[1]
    now = datetime.now(UTC)
    assets_hit = []
    for _ in range(2):
        asset_id, _sensor = add_culvert(db_engine, city, pipeline)
        assets_hit.append(asset_id)
    from sqlalchemy import text

    with db_engine.begin() as conn:  # both in the second district, where no other test raises alerts
        conn.execute(
            text("UPDATE assets SET district_id = :d WHERE id = ANY(:ids)"), {"d": district, "ids": assets_hit}
        )
    for scope in [f"asset:{a}" for a in assets_hit] + [f"district:{district}"]:
        kind, _, ident = scope.partition(":")
        pipeline.alerts.handle(
            RiskLevelEvent(
                scope=scope,
                hazard="water_main_burst",
                previous=Level.YELLOW,
                level=Level.ORANGE,
                score=0.7,
                ts=now,
                explanation="water_main_burst risk is ORANGE",
                **({"asset_id": ident} if kind == "asset" else {}),
                district_id=district,
            )
        )
    page = login(browser, live_server, city.keys["operator"], "/console/")
    page.select_option("#f-district", district)
    page.wait_for_selector("#alert-rows [data-role='members']")
    # the list settles on one row once the district filter and the incident's grouping are both drawn (a busy
    # machine can paint the members' rows a moment before their parent takes them in)
    one_row = "document.querySelectorAll('#alert-rows tr[data-alert-id]').length === 1"
    try:
        page.wait_for_function(one_row, timeout=WAIT_S * 1000)
    except Exception:  # noqa: BLE001 - say what the list shows instead
        pass
    rows = page.locator("#alert-rows tr[data-alert-id]")
    assert rows.count() == 1, page.inner_text("#alert-rows")
    members = page.inner_text("#alert-rows [data-role='members']")
    with db_engine.connect() as conn:
        names = conn.execute(text("SELECT name FROM assets WHERE id = ANY(:ids)"), {"ids": assets_hit}).scalars().all()
    assert len(names) == 2 and all(n in members for n in names) and "涉及 2 处设施" in members, members
    assert page.locator("#alert-rows [data-role='members'] a").count() == 2
    shot(page, "alerts-one-row-per-incident-zh-CN")


def test_the_engineers_download_is_the_whole_series(
    browser: Any, live_server: LiveServer, city: City, incident: dict[str, Any], db_engine: Engine
) -> None:
    """Raw readings download through the streamed export: every reading of the period, not a page of them."""
    page = login(browser, live_server, city.keys["engineer"], f"/console/engineer?sensors={incident['sensor_id']}")
    page.wait_for_function("document.querySelector('#e-chart')?.dataset.series === '1'")
    assert page.is_hidden("#e-partial")
    with page.expect_download() as info:
        page.click("#e-csv")
    text = Path(info.value.path()).read_text()
    lines = text.strip().splitlines()
    assert lines[0] == "ts,value,quality"
    from sqlalchemy import text as sql

    start, end = (
        page.evaluate(f"new Date(document.querySelector('#e-{x}').value).toISOString()") for x in ("start", "end")
    )
    with db_engine.connect() as conn:  # the page's period (its inputs are to the minute)
        stored = conn.execute(
            sql("SELECT count(*) FROM readings WHERE sensor_id = :s AND ts >= :a AND ts < :b"),
            {"s": incident["sensor_id"], "a": start, "b": end},
        ).scalar_one()
    assert len(lines) - 1 == stored > 0


def test_a_cleared_alert_says_recovered_then_resolves_itself_after_the_hold(
    browser: Any, live_server: LiveServer, city: City, pipeline: Pipeline, db_engine: Engine
) -> None:
    """Methane back to normal: the row says 已恢复 (the condition ended) while the alert waits out the rule's
    hold, and the engine's tick after the hold resolves it by itself: it leaves the active list."""
    page = login(browser, live_server, city.keys["operator"], "/console/")
    page.wait_for_selector("#live[data-state='open']")
    asset_id, sensor_id = add_culvert(db_engine, city, pipeline)
    since = quiet(live_server, city, sensor_id)
    fired = breach(live_server, city, pipeline, sensor_id, since)
    (alert,) = [a for a in fired if a.asset_id == asset_id and a.level.label == "red"]
    row = f"tr[data-alert-id='{alert.id}']"
    page.wait_for_selector(f"{row} [data-condition='active']")
    now = time.time()
    post_readings(live_server, city, sensor_id, [(now + 30 * i, 0.4) for i in range(1, 9)])
    pipeline.process(sensor_id, since)
    page.wait_for_selector(f"{row} [data-condition='cleared']")
    assert "已恢复" in page.inner_text(f"{row} [data-role='state']")
    assert alert_state(db_engine, alert.id) == "firing"  # cleared, not yet resolved: the hold runs
    shot(page, "alert-cleared-recovered-zh-CN")
    hold = pipeline.alerts.rules.resolve_after_rules(alert.rules)
    assert pipeline.alerts.tick(datetime.now(UTC) + timedelta(seconds=hold + 300)).resolved >= 1
    page.wait_for_selector(row, state="detached")  # the list shows active alerts by default
    assert alert_state(db_engine, alert.id) == "resolved"
    page.select_option("#f-state", "resolved")
    page.wait_for_selector(f"{row}[data-state='resolved'] [data-condition='cleared']")


def test_an_open_anomaly_counts_its_duration_up_to_now_and_keeps_its_onset(
    browser: Any, live_server: LiveServer, city: City
) -> None:
    """A message made when a breach had lasted 0 minutes says, twenty minutes on, 20 minutes since its onset."""
    page = login(browser, live_server, city.keys["viewer"], "/console/")
    began = (datetime.now(UTC) - timedelta(minutes=20, seconds=5)).isoformat()
    said = page.evaluate(
        """async began => {
        const m = await import("/console/static/js/messages.js");
        const breach = {code: "risk.graded_breach", params: {sensor_kind: "methane", value: "25 %LEL",
                        level: "red", sensor: "CH4-1", minutes: "0", since: began}};
        const outer = {code: "risk.explained", params: {head: {code: "risk.plain", params: {head: "x"}},
                       reasons: [breach]}};
        return {live: m.say(m.withLiveDuration(breach)), onset: m.say(breach),
                nested: m.withLiveDuration(outer).params.reasons[0].params.minutes};
        }""",
        began,
    )
    assert "已持续 20 分钟" in said["live"] and "25 %LEL" in said["live"], said
    assert "已持续 0 分钟" in said["onset"] and said["nested"] == "20", said


def test_the_engineers_compare_every_district_for_one_hazard(
    browser: Any, live_server: LiveServer, city: City, incident: dict[str, Any], db_engine: Engine
) -> None:
    """Scope ``districts`` and a hazard: one line per district with risk points in the period, from one call;
    without a hazard the page says what is missing instead of plotting."""
    from resilience.core.domain import Level
    from resilience.risk.series import SeriesPoint
    from resilience.risk.store import PgRiskRepository

    with db_engine.begin() as conn:  # a point of each district in the period, whatever the pipeline wrote
        PgRiskRepository(conn).append_series(
            [
                SeriesPoint(
                    f"district:{d}", "gas_explosion", datetime.now(UTC) - timedelta(hours=1), 0.4, Level.BLUE, "t"
                )
                for d in city.districts
            ]
        )
    page = login(browser, live_server, city.keys["engineer"], "/console/engineer")
    page.fill("#e-scope", "districts")
    page.click("#e-plot")
    page.wait_for_function("document.querySelector('#e-error').textContent.length > 0")
    page.select_option("#e-hazard", "gas_explosion")
    page.select_option("#e-bucket", "5m")
    page.click("#e-plot")
    page.wait_for_function(
        "document.querySelector('#e-chart')?.dataset.series !== undefined"
        " || document.querySelector('#e-error').textContent.length > 0"
    )
    assert page.text_content("#e-error") == "", page.text_content("#e-error")
    from sqlalchemy import text as sql

    start, end = (
        page.evaluate(f"new Date(document.querySelector('#e-{x}').value).toISOString()") for x in ("start", "end")
    )
    with db_engine.connect() as conn:
        districts = conn.execute(
            sql(
                "SELECT count(DISTINCT scope) FROM risk_series WHERE hazard = 'gas_explosion' AND ts >= :a AND ts < :b "
                "AND scope IN (SELECT 'district:' || id FROM districts)"
            ),
            {"a": start, "b": end},
        ).scalar_one()
    assert (
        page.evaluate("Number(document.querySelector('#e-chart').dataset.series)") == districts >= len(city.districts)
    )
