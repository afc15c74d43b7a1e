"""Registry produced by build_city: complete, consistent with the store schema, coupled hazards present."""

from __future__ import annotations

import re

import pytest

from resilience.core.domain import SENSOR_KINDS, AssetKind
from resilience.simulator.city import City, build_city, distance_m
from resilience.store.schema import assets, districts, sensors, utilities


@pytest.fixture(scope="module")
def city() -> City:
    return build_city(seed=11, n_sensors=2000)


def test_exact_sensor_count_and_every_kind(city: City) -> None:
    assert len(city.sensors) == 2000
    assert {a.kind for a in city.assets} == set(AssetKind)
    assert {s.kind for s in city.sensors} == set(SENSOR_KINDS)
    assert all(re.fullmatch(r"S\d{6}", s.id) for s in city.sensors)
    assert len({s.id for s in city.sensors}) == len(city.sensors)
    assert len({a.id for a in city.assets}) == len(city.assets)


def test_units_and_intervals(city: City) -> None:
    for s in city.sensors:
        spec = SENSOR_KINDS[s.kind]
        assert s.unit == spec.unit
        assert s.expected_interval_s == max(spec.interval_s, 10.0)


def test_deterministic_from_seed() -> None:
    a, b, c = build_city(5, 600), build_city(5, 600), build_city(6, 600)
    assert a.registry_rows() == b.registry_rows()
    assert a.registry_rows()["assets"] != c.registry_rows()["assets"]


def test_registry_rows_match_schema_and_reference_existing_ids(city: City) -> None:
    rows = city.registry_rows()
    for table in (utilities, districts, assets, sensors):
        expected = {c.name for c in table.columns} - {"created_at"}
        assert rows[table.name], table.name
        assert all(set(r) == expected for r in rows[table.name]), table.name
    util_ids = {r["id"] for r in rows["utilities"]}
    dist_ids = {r["id"] for r in rows["districts"]}
    asset_ids = {r["id"] for r in rows["assets"]}
    for r in rows["assets"]:
        assert r["district_id"] in dist_ids
        assert r["utility_id"] is None or r["utility_id"] in util_ids
        assert 1 <= r["criticality"] <= 5
        assert AssetKind(r["kind"])
    for r in rows["sensors"]:
        assert r["asset_id"] in asset_ids and r["utility_id"] in util_ids
        assert r["kind"] in SENSOR_KINDS


def test_geometry_near_qingdao_and_inside_districts(city: City) -> None:
    by_id = {d.id: d for d in city.districts}
    for d in city.districts:
        ring = d.polygon["coordinates"][0]
        assert d.polygon["type"] == "Polygon" and ring[0] == ring[-1] and len(ring) == 5
        assert d.population > 0
    for a in city.assets:
        assert abs(a.lat - 36.07) < 0.3 and abs(a.lon - 120.38) < 0.3
        lat0, lat1, lon0, lon1 = by_id[a.district_id].bbox
        # chained culverts may run a little past their district edge; everything else is inside
        slack = 0.02 if a.kind is AssetKind.DRAINAGE_CULVERT else 0.0
        assert lat0 - slack <= a.lat <= lat1 + slack and lon0 - slack <= a.lon <= lon1 + slack


def test_drainage_chains_and_gas_coupling(city: City) -> None:
    culverts = {a.id: a for a in city.assets_of(AssetKind.DRAINAGE_CULVERT)}
    links = [a for a in culverts.values() if "downstream_of" in a.attributes]
    assert links and all(a.attributes["downstream_of"] in culverts for a in links)
    gas = city.assets_of(AssetKind.GAS_PIPELINE)
    coupled = [a for a in city.assets if "near_gas_pipeline" in a.attributes]
    assert len(coupled) >= 10
    for a in coupled:
        g = city.asset(a.attributes["near_gas_pipeline"])
        assert g.kind is AssetKind.GAS_PIPELINE
        assert distance_m(a.lat, a.lon, g.lat, g.lon) <= 50.0
        assert city.sensors_of(a.id, "methane")
    # independent check: at least one culvert methane sensor lies within 50 m of some gas main
    assert any(min(distance_m(c.lat, c.lon, g.lat, g.lon) for g in gas) <= 50.0 for c in culverts.values())


def test_critical_facilities_and_attributes(city: City) -> None:
    facilities = {a.attributes["facility"] for a in city.assets_of(AssetKind.CRITICAL_FACILITY)}
    assert facilities == {"hospital", "school", "metro_station"}
    assert all(not city.sensors_of(a.id) for a in city.assets_of(AssetKind.CRITICAL_FACILITY))
    assert all(1965 <= a.install_year <= 2024 and a.material for a in city.assets)
    assert any("underpass" in a.attributes for a in city.assets_of(AssetKind.ROAD))
