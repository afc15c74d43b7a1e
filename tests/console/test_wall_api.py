"""The wall's summary and incident surroundings against the live server: a new red culvert adds a device, an
alarm now, one today and one in the last hour of the trend; a school 300 m away is what the incident threatens,
one 3 km away is not."""

from __future__ import annotations

import math
import time
import uuid
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import Engine, insert, text

from resilience.core.domain import Level
from resilience.store.schema import assets
from tests.console.conftest import WAIT_S, City, LiveServer, Pipeline, add_culvert, breach, quiet

SUMMARY = "/api/v1/console/wall/summary"
CULVERT_AT = (36.0051, 120.3052)  # where add_culvert puts its culvert


def _get(server: LiveServer, city: City, path: str, role: str = "viewer", **params: Any) -> httpx.Response:
    return httpx.get(f"{server.url}{path}", params=params, headers={"X-API-Key": city.keys[role]}, timeout=WAIT_S)


def _quiet_when_known(server: LiveServer, city: City, sensor_id: str) -> datetime:
    """quiet(), once ingest knows the new sensor: its registry copy reads again on a miss at most once a
    second (resilience.core.registry_cache), so a sensor added within that second is refused until then."""
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            return quiet(server, city, sensor_id)
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _methane(body: dict[str, Any], city: City) -> dict[str, Any]:
    (row,) = [d for d in body["devices"] if d["utility_id"] == city.utility and d["kind"] == "methane"]
    return row


def test_a_new_red_culvert_moves_every_count_of_the_wall(
    live_server: LiveServer, city: City, pipeline: Pipeline, db_engine: Engine
) -> None:
    before = _get(live_server, city, SUMMARY).json()
    asset_id, sensor_id = add_culvert(db_engine, city, pipeline)
    since = _quiet_when_known(live_server, city, sensor_id)
    fired = breach(live_server, city, pipeline, sensor_id, since)
    assert any(a.asset_id == asset_id and a.level.label == "red" for a in fired)
    after = _get(live_server, city, SUMMARY).json()
    assert after["devices_total"] == before["devices_total"] + 1
    assert _methane(after, city)["total"] == _methane(before, city)["total"] + 1
    assert _methane(after, city)["online"] <= _methane(after, city)["total"]
    assert after["active_by_level"]["red"] >= before["active_by_level"]["red"] + 1
    assert after["today_by_level"]["red"] >= before["today_by_level"]["red"] + 1
    assert after["today_by_hazard"].get("gas_explosion", 0) >= 1
    assert len(after["trend"]) == 24 and after["trend"][-1]["by_level"]["red"] >= 1
    assert after["trend"][0]["hour"] < after["trend"][-1]["hour"]
    assert datetime.fromisoformat(after["day_start"]) <= datetime.fromisoformat(after["now"])  # offsets differ


def _facility(db_engine: Engine, city: City, facility: str, lat: float, lon: float) -> str:
    fid = f"{city.tag}-FAC-{uuid.uuid4().hex[:4]}"
    with db_engine.begin() as conn:
        conn.execute(
            insert(assets),
            [
                {
                    "id": fid,
                    "name": f"{facility} {fid}",
                    "kind": "critical_facility",
                    "district_id": city.districts[0],
                    "utility_id": city.utility,
                    "lat": lat,
                    "lon": lon,
                    "attributes": {"facility": facility},
                }
            ],
        )
    return fid


def test_the_incident_names_what_it_threatens_and_its_first_action(
    live_server: LiveServer, city: City, pipeline: Pipeline, db_engine: Engine
) -> None:
    lat, lon = CULVERT_AT
    near = _facility(db_engine, city, "school", lat + 300 / 111_320, lon)
    far = _facility(db_engine, city, "hospital", lat, lon + 3000 / (111_320 * math.cos(math.radians(lat))))
    asset_id, sensor_id = add_culvert(db_engine, city, pipeline)  # after the facilities: ingest knows its sensor
    with db_engine.connect() as conn:
        assert conn.execute(text("SELECT lat, lon FROM assets WHERE id = :a"), {"a": asset_id}).one() == CULVERT_AT
    since = _quiet_when_known(live_server, city, sensor_id)
    (red,) = [a for a in breach(live_server, city, pipeline, sensor_id, since) if a.asset_id == asset_id]
    body = _get(live_server, city, f"/api/v1/console/wall/alerts/{red.id}/around").json()
    found = {f["id"]: f for f in body["facilities"]}
    assert near in found and far not in found, body
    assert abs(found[near]["distance_m"] - 300) <= 5 and found[near]["facility"] == "school"
    assert body["population"] == 120000 and body["district_id"] == city.districts[0]
    assert body["level"] == "red" and body["action_zh"] and body["action_en"]
    assert body["asset_name"] and body["asset_id"] == asset_id


def test_the_wall_refuses_what_it_cannot_answer(live_server: LiveServer, city: City) -> None:
    assert _get(live_server, city, SUMMARY, tz="Mars/Olympus").status_code == 422
    assert _get(live_server, city, "/api/v1/console/wall/alerts/999999999/around").status_code == 404
    assert httpx.get(f"{live_server.url}{SUMMARY}", timeout=WAIT_S).status_code == 401
    page = httpx.get(f"{live_server.url}/console/wall", timeout=WAIT_S, follow_redirects=False)
    assert page.status_code == 303 and "/login?next=/console/wall" in page.headers["location"]


def test_the_wall_map_is_the_console_map_in_short(live_server: LiveServer, city: City, db_engine: Engine) -> None:
    """The wall's compact map has every asset of the console map, in the same order, at the same place (to
    1e-6 degree) at its worst level over its hazards, and the same coupled-risk links at their worst level."""
    lat, lon = 36.012345, 120.345678  # to the micro-degree: sent as stored
    asset_id = _facility(db_engine, city, "school", lat, lon)  # no sensor: ingest's registry copy stays as it is
    full = _get(live_server, city, "/api/v1/console/map").json()
    wall = _get(live_server, city, "/api/v1/console/wall/map").json()
    points = wall["assets"]
    assert points["id"] == [a["id"] for a in full["assets"]] and asset_id in points["id"]
    for i, a in enumerate(full["assets"]):
        assert points["level"][i] == max((int(Level.parse(v)) for v in a["levels"].values()), default=0), a
        for axis in ("lon", "lat"):
            assert (points[axis][i] is None) == (a[axis] is None)
            assert a[axis] is None or abs(points[axis][i] - a[axis]) <= 1e-6, (axis, a)
    here = points["id"].index(asset_id)
    assert (points["lat"][here], points["lon"][here], points["level"][here]) == (lat, lon, 0)
    worst: dict[tuple[str, str], int] = {}
    for link in full["links"]:
        key = (link["source"], link["target"])
        worst[key] = max(worst.get(key, 0), int(Level.parse(link["level"])))
    assert {(x["source"], x["target"]): x["level"] for x in wall["links"]} == worst
    assert [d["id"] for d in wall["districts"]] == [d["id"] for d in full["districts"]]
    assert wall["districts"] == full["districts"]
