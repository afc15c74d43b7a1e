"""Registry produced by build_city: complete, consistent with the store schema, coupled hazards present."""

from __future__ import annotations

import re

import pytest
from shapely.geometry import Point, shape

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


def test_assets_inside_their_hefei_districts(city: City) -> None:
    """Every asset lies inside its district's real polygon (as stored: the map package's ring), in Hefei."""
    by_id = {d.id: d for d in city.districts}
    assert [d.name_zh for d in city.districts] == ["瑶海区", "庐阳区", "蜀山区", "包河区"]
    for d in city.districts:
        ring = d.polygon["coordinates"][0]
        assert d.polygon["type"] == "Polygon" and ring[0] == ring[-1] and len(ring) > 100
        assert d.population > 0
    areas = {d.id: shape(d.polygon).buffer(0) for d in city.districts}
    for a in city.assets:
        assert abs(a.lat - 31.82) < 0.5 and abs(a.lon - 117.23) < 0.5
        assert areas[a.district_id].contains(Point(a.lon, a.lat)), (a.id, a.district_id, a.lat, a.lon)
        assert by_id[a.district_id].name_en and a.name_zh and a.name_en


def test_names_in_both_languages(city: City) -> None:
    """Chinese names carry no ASCII letters; English ones are the names of record."""
    rows = city.registry_rows()
    for table in ("utilities", "districts", "assets"):
        for r in rows[table]:
            assert r["name_zh"] and not re.search(r"[A-Za-z]", r["name_zh"]), r
            assert r["name_en"] == r["name"] and re.search(r"[A-Za-z]", r["name_en"]), r
    names = {a.name_zh for a in city.assets}
    assert "燃气管线 1" in names and any(n.startswith("瑶海区学校") for n in names)


def test_more_districts_than_hefei_has_is_refused() -> None:
    with pytest.raises(ValueError, match="1 to 9 districts"):
        build_city(seed=1, n_sensors=600, n_districts=10)


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
