"""Names in two languages through the registry, a real city's districts from GeoJSON, hostile GeoJSON refused
with reasons, and basemap layers (issue 24). Against the real PostgreSQL; ids carry a per-test prefix."""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from resilience.api.basemap_files import POSITIONS_MAX
from resilience.api.registry_files import POLYGON_POSITIONS_MAX
from resilience.simulator.hefei import MAP_FILE
from tests.auth import key_header

URL = "/api/v1/registry/import"
GEOJSON = {"content-type": "application/geo+json"}


def _prefix() -> str:
    return f"N{uuid.uuid4().hex[:6]}-"


def _collection(features: list[Any]) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False).encode()


def test_both_names_round_trip_through_import_routes_and_console(api_client: TestClient) -> None:
    """Hefei's district file as a GIS export gives it (Chinese ``name``), given English names and an asset
    with both; the routes and the console's map serve both names and the polygon as stored."""
    p = _prefix()
    shipped = json.loads(MAP_FILE.read_text(encoding="utf-8"))["features"]
    feature = next(f for f in shipped if f["id"] == "340102")
    polygon = {"type": "Polygon", "coordinates": feature["geometry"]["coordinates"]}  # less ECharts' extras
    district = {
        "type": "Feature",
        "properties": {"id": f"{p}YH", "name_zh": feature["properties"]["name"], "name_en": "Yaohai District",
                       "population": 1_000_000},
        "geometry": feature["geometry"],
    }  # fmt: skip
    asset = {
        "type": "Feature",
        "properties": {"id": f"{p}GAS", "name_zh": "燃气管线 3", "name_en": "gas pipeline 3",
                       "kind": "gas_pipeline", "district_id": f"{p}YH"},
        "geometry": {"type": "Point", "coordinates": [117.35, 31.87]},
    }  # fmt: skip
    reply = api_client.post(URL, content=_collection([district, asset]), headers=GEOJSON)
    assert reply.status_code == 200 and reply.json()["rejected"] == 0, reply.text
    d = api_client.get(f"/api/v1/districts/{p}YH").json()
    assert (d["name"], d["name_zh"], d["name_en"]) == ("Yaohai District", "瑶海区", "Yaohai District")
    assert d["polygon"] == polygon  # kept as the file gave it (self-intersections and all)
    a = api_client.get(f"/api/v1/assets/{p}GAS").json()
    assert (a["name_zh"], a["name_en"]) == ("燃气管线 3", "gas pipeline 3")
    patched = api_client.patch(f"/api/v1/assets/{p}GAS", json={"name_en": "gas main 3"}).json()
    assert (patched["name"], patched["name_zh"], patched["name_en"]) == ("gas pipeline 3", "燃气管线 3", "gas main 3")
    made = api_client.post("/api/v1/utilities", json={"id": f"{p}U", "name_zh": "合肥燃气集团"})
    assert made.status_code == 201 and made.json()["name"] == "合肥燃气集团", made.text
    csv = f"id,name_zh,name_en\n{p}U,合肥燃气集团,Hefei Gas Group\n".encode()
    assert api_client.post(URL, params={"entity": "utilities"}, content=csv, headers={"content-type": "text/csv"})
    seen = next(
        u for u in api_client.get("/api/v1/utilities", params={"limit": 1000}).json()["data"] if u["id"] == f"{p}U"
    )
    assert seen["name_en"] == "Hefei Gas Group"
    console = api_client.get("/api/v1/console/map").json()
    on_map = next(x for x in console["districts"] if x["id"] == f"{p}YH")
    assert on_map["name_zh"] == "瑶海区" and on_map["polygon"] == polygon
    assert next(x for x in console["assets"] if x["id"] == f"{p}GAS")["name_zh"] == "燃气管线 3"


def test_hostile_district_geojson_is_refused_with_reasons(api_client: TestClient) -> None:
    p = _prefix()
    ring = [[117.0, 31.0], [117.1, 31.0], [117.1, 31.1], [117.0, 31.0]]
    many = [[117.0 + i * 1e-6, 31.0 + (i % 2) * 1e-3] for i in range(POLYGON_POSITIONS_MAX + 1)] + [[117.0, 31.0]]
    cases: list[tuple[dict[str, Any], dict[str, Any], str]] = [
        (
            {"id": f"{p}1", "name": "x"},
            {"type": "Polygon", "coordinates": [many]},
            f"more than {POLYGON_POSITIONS_MAX}",
        ),
        ({"id": f"{p}2", "name": "x"}, {"type": "Polygon", "coordinates": [[[117.0, 31.0]] * 4]}, "no area"),
        (
            {"id": f"{p}3", "name": "x"},
            {"type": "Polygon", "coordinates": [[[117.0, 31.0], [117.1, 31.0], [117.2, 31.0], [117.0, 31.0]]]},
            "no area",
        ),  # fmt: skip
        (
            {"id": f"{p}4", "name": "x"},
            {"type": "Polygon", "coordinates": [[[117.0, 95.0], *ring[1:-1], [117.0, 95.0]]]},
            "off the globe",
        ),  # fmt: skip
        (
            {"id": f"{p}5", "name": "x"},
            {"type": "Polygon", "coordinates": [[["117", 31.0], *ring[1:-1], ["117", 31.0]]]},
            "finite numbers",
        ),
        ({"id": f"{p}6", "name": "x"}, {"type": "GeometryCollection", "geometries": []}, "Polygon"),
        ({"id": f"{p}7", "name_zh": "区" * 201}, {"type": "Polygon", "coordinates": [ring]}, "at most 200"),
        ({"id": f"{p}8", "name_en": "a\u0000b"}, {"type": "Polygon", "coordinates": [ring]}, "NUL"),
    ]
    features = [
        {"type": "Feature", "properties": {**props, "entity": "districts"}, "geometry": g} for props, g, _ in cases
    ]
    reply = api_client.post(URL, content=_collection(features), headers=GEOJSON).json()
    assert reply["rejected"] == len(cases) and reply["counts"]["districts"]["created"] == 0, reply
    for error, (_, _, reason) in zip(reply["errors"], cases, strict=True):
        assert reason in error["reason"], error
    assert api_client.get(f"/api/v1/districts/{p}7").status_code == 404


def test_basemap_layers_are_stored_served_and_hostile_ones_refused(api_client: TestClient, db_engine: Engine) -> None:
    p = _prefix()
    url = f"/api/v1/basemap/layers/{p}roads"
    roads = _collection([
        {"type": "Feature", "properties": {"name": "长江西路"},
         "geometry": {"type": "LineString", "coordinates": [[117.20, 31.86], [117.28, 31.86]]}},
        {"type": "Feature", "properties": {},
         "geometry": {"type": "MultiLineString", "coordinates": [[[117.2, 31.8], [117.3, 31.9]]]}},
    ])  # fmt: skip
    query = {"name_zh": "主干道", "name_en": "Main roads", "kind": "roads"}
    made = api_client.put(url, params=query, content=roads, headers=GEOJSON)
    assert made.status_code == 201 and made.json()["features"] == 2, made.text
    assert api_client.put(url, params=query, content=roads, headers=GEOJSON).status_code == 200  # replaced
    layer = api_client.get(url).json()
    assert layer["name_zh"] == "主干道" and layer["geojson"]["features"][0]["properties"]["name"] == "长江西路"
    assert any(x["id"] == f"{p}roads" and "geojson" not in x for x in api_client.get("/api/v1/basemap/layers").json())

    def refused(body: bytes, status: int = 422, **params: str) -> str:
        r = api_client.put(f"/api/v1/basemap/layers/{p}bad", params={**query, **params}, content=body, headers=GEOJSON)
        assert r.status_code == status, r.text
        return str(r.json()["detail"])

    point = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [117.2, 31.8]}}
    assert "feature 0: geometry must be a line or an area" in refused(_collection([point]))
    short = {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[117.2, 31.8]]}}
    assert "at least 2 positions" in refused(_collection([short]))
    far = {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[317.2, 31.8], [117.3, 31.8]]}}
    assert "off the globe" in refused(_collection([far]))
    assert "nested deeper" in refused(b"[" * 100_000 + b"]" * 100_000)
    assert "not JSON" in refused(b'{"type": "FeatureCollection", "features": [NaN]}')
    assert "FeatureCollection" in refused(b'{"type": "Feature"}')
    line = [[117.0 + i * 1e-6, 31.0] for i in range(POSITIONS_MAX // 2 + 1)]
    big = {"type": "Feature", "geometry": {"type": "LineString", "coordinates": line}}
    assert f"more than {POSITIONS_MAX} positions" in refused(_collection([big, big]))
    refused(roads, kind="sewers")  # not a layer kind: 422 from the query's schema
    assert api_client.get(f"/api/v1/basemap/layers/{p}bad").status_code == 404  # nothing of a refused file

    viewer = key_header(db_engine, "viewer")
    assert api_client.put(url, params=query, content=roads, headers={**GEOJSON, **viewer}).status_code == 403
    engineer = key_header(db_engine, "engineer")
    assert api_client.delete(url, headers=engineer).status_code == 204
    assert api_client.get(url).status_code == 404
