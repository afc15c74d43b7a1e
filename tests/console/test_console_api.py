"""The console's own endpoints and pages against the live server: a real reading becomes a red alert that the
console stream sends whole, its timeline measures the response against the targets, the map carries the
districts, assets and the coupled link, the replay and the report see it; pages send strangers to /login."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from tests.console.conftest import WAIT_S, City, LiveServer, Pipeline, add_culvert, breach, quiet


def _get(server: LiveServer, city: City, path: str, role: str = "operator", **params: Any) -> httpx.Response:
    return httpx.get(f"{server.url}{path}", params=params, headers={"X-API-Key": city.keys[role]}, timeout=WAIT_S)


@pytest.fixture(scope="module")
def red(live_server: LiveServer, city: City, pipeline: Pipeline, db_engine: Engine) -> dict[str, Any]:
    asset_id, sensor_id = add_culvert(db_engine, city, pipeline)
    since = quiet(live_server, city, sensor_id)
    fired = breach(live_server, city, pipeline, sensor_id, since)
    reds = [a for a in fired if a.asset_id == asset_id and a.level.label == "red"]
    assert reds, f"no red alert from 60 %LEL: {[(a.asset_id, a.level) for a in fired]}"
    return {"alert_id": reds[0].id, "asset_id": asset_id, "sensor_id": sensor_id}


def test_the_stream_sends_a_snapshot_then_whole_alerts(
    live_server: LiveServer, city: City, red: dict[str, Any]
) -> None:
    """A snapshot with the red alert, then, after an operator acknowledges it, the whole alert again."""
    seen: list[tuple[str, dict[str, Any]]] = []
    with httpx.stream(
        "GET",
        f"{live_server.url}/api/v1/console/alerts/stream",
        params={"poll_s": 0.2},
        headers={"X-API-Key": city.keys["viewer"]},
        timeout=WAIT_S,
    ) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
                continue
            if not line.startswith("data: "):
                continue
            seen.append((name or "", json.loads(line[6:])))
            if name == "snapshot":
                ack = httpx.post(
                    f"{live_server.url}/api/v1/alerts/{red['alert_id']}/ack",
                    json={"note": "seen"},
                    headers={"X-API-Key": city.keys["operator"]},
                    timeout=WAIT_S,
                )
                assert ack.status_code == 200, ack.text
            elif name == "alert" and seen[-1][1]["alert"]["id"] == red["alert_id"]:
                break
    snap = seen[0][1]
    mine = [a for a in snap["alerts"] if a["id"] == red["alert_id"]]
    assert mine and mine[0]["level"] == "red" and mine[0]["state"] == "firing"
    assert mine[0]["asset_name"].startswith("Culvert")
    change = seen[-1][1]
    assert change["alert"]["state"] == "acknowledged" and change["alert"]["row_version"] > mine[0]["row_version"]
    assert [e["kind"] for e in change["entries"]] == ["acknowledged"]
    assert change["entries"][0]["actor"].startswith("console-operator [")


def test_the_stream_is_capped(live_server: LiveServer, city: City, monkeypatch: pytest.MonkeyPatch) -> None:
    from resilience.core.settings import get_settings

    monkeypatch.setenv("RESILIENCE_SSE_MAX_CLIENTS", "0")  # the one cap both event streams share
    get_settings.cache_clear()
    try:
        for path in ("/api/v1/console/alerts/stream", "/api/v1/alerts/stream"):
            r = _get(live_server, city, path, "viewer")
            assert r.status_code == 503 and r.headers["retry-after"], path
    finally:
        get_settings.cache_clear()


def test_timeline_measures_against_targets(live_server: LiveServer, city: City, red: dict[str, Any]) -> None:
    body = _get(live_server, city, f"/api/v1/console/alerts/{red['alert_id']}/timeline").json()
    assert body["steps"][0]["kind"] == "fired"
    ack = next(r for r in body["response"] if r["key"] == "ack")
    assert ack["target_s"] == 300  # the gas_red_fast escalation policy's ack_within_s
    assert ack["elapsed_s"] is None or ack["met"] is (ack["elapsed_s"] <= 300)
    assert _get(live_server, city, "/api/v1/console/alerts/999999999/timeline").status_code == 404


def test_map_has_districts_assets_levels_and_the_coupled_link(
    live_server: LiveServer, city: City, red: dict[str, Any]
) -> None:
    m = _get(live_server, city, "/api/v1/console/map", "viewer").json()
    ids = {d["id"] for d in m["districts"]}
    assert set(city.districts) <= ids
    culvert = next(a for a in m["assets"] if a["id"] == red["asset_id"])
    assert culvert["levels"].get("gas_explosion") in ("orange", "red")
    assert any(link["target"] == red["asset_id"] or link["source"] == red["asset_id"] for link in m["links"])


def test_asset_sensors_carry_their_limits(live_server: LiveServer, city: City, red: dict[str, Any]) -> None:
    body = _get(live_server, city, f"/api/v1/console/assets/{red['asset_id']}", "viewer").json()
    (sensor,) = body["sensors"]
    assert sensor["limits"] == {"blue": 5, "yellow": 10, "orange": 20, "red": 50} and sensor["direction"] == "above"
    assert body["district_name"] == "Harbour" and body["risk"]
    assert _get(live_server, city, "/api/v1/console/assets/NOPE", "viewer").status_code == 404


def test_replay_and_report_see_the_incident(live_server: LiveServer, city: City, red: dict[str, Any]) -> None:
    replay = _get(live_server, city, "/api/v1/console/spectrum/replay", "engineer", hours=24, step_minutes=60).json()
    assert len(replay["frames"]) == 24 and city.districts[0] in replay["districts"]
    col = replay["districts"].index(city.districts[0])
    row = replay["hazards"].index("gas_explosion")
    assert replay["frames"][-1]["levels"][row][col] in ("orange", "red")
    assert _get(live_server, city, "/api/v1/console/spectrum/replay", "viewer").status_code == 403
    report = _get(live_server, city, "/api/v1/console/reports/response-times", "engineer").json()
    mine = [r for r in report["data"] if r["district_id"] == city.districts[0] and r["hazard"] == "gas_explosion"]
    assert mine and mine[0]["alerts"] >= 1


def test_pages_redirect_strangers_and_static_files_are_served(live_server: LiveServer, city: City) -> None:
    r = httpx.get(f"{live_server.url}/console/map", follow_redirects=False, timeout=WAIT_S)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/console/map"
    assert _get(live_server, city, "/console/map", "viewer").text.count('src="/console/static/js/app.js"') == 1
    assert (
        httpx.get(
            f"{live_server.url}/console/nothing", headers={"X-API-Key": city.keys["viewer"]}, timeout=WAIT_S
        ).status_code
        == 404
    )
    js = httpx.get(f"{live_server.url}/console/static/js/app.js", timeout=WAIT_S)
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert httpx.get(f"{live_server.url}/console/static/../../api/auth.py", timeout=WAIT_S).status_code == 404


def test_a_new_session_works_at_once(live_server: LiveServer, city: City) -> None:
    """The session is committed before the login answers, so the browser's very next request is let in
    (a commit left to after the response made the first page after login bounce back to /login now and then)."""
    refused = 0
    for _ in range(40):
        with httpx.Client(base_url=live_server.url, timeout=WAIT_S) as browser:
            assert browser.post("/api/v1/session", json={"key": city.keys["viewer"]}).status_code == 200
            refused += browser.get("/api/v1/session").status_code != 200
    assert refused == 0


def test_a_live_alert_shows_the_value_now_its_peak_and_how_long_it_lasts(
    live_server: LiveServer, city: City, red: dict[str, Any]
) -> None:
    """Twenty minutes into a leak the alert said the onset value; now it says what the sensor reads, when,
    and the peak, beside the onset."""
    import time

    from tests.console.conftest import post_readings

    at = time.time() - 1
    post_readings(live_server, city, red["sensor_id"], [(at, 40.5)])
    body = _get(live_server, city, "/api/v1/console/alerts/values").json()
    live = body["data"][str(red["alert_id"])]
    (sensor,) = [s for s in live["sensors"] if s["sensor_id"] == red["sensor_id"]]
    assert sensor["value"] == 40.5 and sensor["unit_label"] == "%LEL"
    assert abs(datetime.fromisoformat(sensor["ts"]).timestamp() - at) < 1e-3
    assert sensor["age_s"] >= 0 and live["active_for_s"] > 0 and live["condition"] == "active"
    timeline = _get(live_server, city, f"/api/v1/console/alerts/{red['alert_id']}/timeline").json()
    (peak,) = [s for s in timeline["live"]["sensors"] if s["sensor_id"] == red["sensor_id"]]
    assert peak["current"]["value"] == 40.5 and peak["peak"] == 60.0
    assert _get(live_server, city, "/api/v1/console/alerts/values", role="viewer").status_code == 200


def test_the_report_and_the_alert_panel_state_one_target(
    live_server: LiveServer, city: City, red: dict[str, Any]
) -> None:
    """The panel said 5 min to acknowledge a gas red and the report 10 min for every red: both read the
    hazard's own targets now."""
    panel = _get(live_server, city, f"/api/v1/console/alerts/{red['alert_id']}/timeline").json()
    ack = next(r["target_s"] for r in panel["response"] if r["key"] == "ack")
    report = _get(live_server, city, "/api/v1/console/reports/response-times", role="engineer").json()
    gas = [row for row in report["data"] if row["hazard"] == panel["alert"]["hazard"]]
    assert gas and all(row["red_targets"]["ack"] == ack == 300 for row in gas)


def test_asset_and_alert_show_the_projection_in_force(
    live_server: LiveServer, city: City, red: dict[str, Any], db_engine: Engine
) -> None:
    """A projection made 5 min ago that red is 40 min away reads "about 35 min" now, on the asset, the alert's
    panel and the alert; its withdrawal takes it off all three."""
    from datetime import UTC, timedelta

    from resilience.core.events import ForecastEvent
    from resilience.core.forecasts import headline
    from resilience.store.forecasts import apply_forecasts

    made = datetime.now(UTC) - timedelta(minutes=5)
    projections = [{"level": "red", "limit": 50.0, "eta_s": 2400.0, "eta_low_s": 1800.0, "eta_high_s": 3300.0}]

    def forecast(phase: str, rows: list[dict[str, Any]]) -> ForecastEvent:
        sid, aid = red["sensor_id"], red["asset_id"]
        return ForecastEvent(sid, aid, "methane", phase, made, 30.0, 0.5, rows, message=headline(rows))

    with db_engine.begin() as conn:
        apply_forecasts(conn, [forecast("issue", projections)])
    asset = _get(live_server, city, f"/api/v1/console/assets/{red['asset_id']}", "viewer").json()
    panel = _get(live_server, city, f"/api/v1/console/alerts/{red['alert_id']}/timeline", "viewer").json()
    alert = _get(live_server, city, f"/api/v1/alerts/{red['alert_id']}", "viewer").json()
    for body in (asset, panel, alert):
        (f,) = body["forecasts"]
        assert f["sensor_id"] == red["sensor_id"] and f["ts"] == made.isoformat() and f["age_s"] >= 300
        assert f["message"]["code"] == "forecast.reach" and f["message"]["params"]["level"] == "red"
        assert f["message"]["params"]["minutes"] in (34, 35) and f["explanation"].startswith("red in about 3")
        assert f["projections"][0]["due_at"] == (made + timedelta(seconds=2400)).isoformat()
        assert f["overdue"] is False
    with db_engine.begin() as conn:
        apply_forecasts(conn, [forecast("withdraw", [])])
    assert _get(live_server, city, f"/api/v1/console/assets/{red['asset_id']}", "viewer").json()["forecasts"] == []
    assert _get(live_server, city, f"/api/v1/alerts/{red['alert_id']}", "viewer").json()["forecasts"] == []
