"""Bulk registry import (issue 23): a city from CSV or GeoJSON through the API and the CLI, against the real
PostgreSQL. Ids carry a per-test prefix: the spine package shares one database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from resilience.api.main import create_app
from resilience.api.registry_files import parse_csv
from resilience.api.registry_import import import_files
from resilience.bench.registry_import_bench import city_csv, to_csv
from resilience.core.settings import get_settings
from resilience.store.db import make_engine
from resilience.store.schema import assets, districts, registry_version, sensors
from tests.auth import key_header
from tests.spine.workers import service_url

URL = "/api/v1/registry/import"
CSV = {"content-type": "text/csv"}
GEOJSON = {"content-type": "application/geo+json"}
ROOT = Path(__file__).resolve().parents[2]


def version(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(registry_version.c.version)).scalar_one())


def post_csv(client: TestClient, entity: str, body: bytes, **params: Any) -> Any:
    return client.post(URL, params={"entity": entity, **params}, content=body, headers=CSV)


def small_city(prefix: str) -> dict[str, bytes]:
    rows = {
        "utilities": [{"id": f"{prefix}gas", "name": "Gas Co"}, {"id": f"{prefix}water", "name": "Water Co"}],
        "districts": [
            {
                "id": f"{prefix}D1",
                "name": "Shinan",
                "population": 40000,
                "polygon": {"type": "Polygon", "coordinates": [[[120.3, 36.0], [120.4, 36.0], [120.4, 36.1], [120.3, 36.0]]]},
            }
        ],
        "assets": [
            {"id": f"{prefix}A1", "name": "DN600 main", "kind": "water_main", "district_id": f"{prefix}D1",
             "utility_id": f"{prefix}water", "lat": 36.07, "lon": 120.38, "attributes": {"dn": 600}},
            {"id": f"{prefix}A2", "name": "Culvert", "kind": "drainage_culvert", "district_id": f"{prefix}D1",
             "utility_id": f"{prefix}gas", "lat": 36.071, "lon": 120.381},
        ],
        "sensors": [
            {"id": f"{prefix}P1", "asset_id": f"{prefix}A1", "utility_id": f"{prefix}water", "kind": "water_pressure",
             "unit": "MPa", "thresholds": {"red": 0.1}},
            {"id": f"{prefix}CH4", "asset_id": f"{prefix}A2", "utility_id": f"{prefix}gas", "kind": "methane",
             "unit": "%LEL", "expected_interval_s": 30},
        ],
    }  # fmt: skip
    return {entity: to_csv(entity, r) for entity, r in rows.items()}


def counts(reply: dict[str, Any], entity: str) -> tuple[int, int, int, int]:
    c = reply["counts"][entity]
    return c["created"], c["updated"], c["unchanged"], c["rejected"]


def test_a_csv_city_imports_and_a_second_import_changes_nothing(api_client: TestClient, db_engine: Engine) -> None:
    files = small_city("csv-")
    before = version(db_engine)
    for entity, body in files.items():
        r = post_csv(api_client, entity, body)
        assert r.status_code == 200, r.text
        assert r.json()["committed"] and r.json()["rejected"] == 0
    assert version(db_engine) == before + 3  # one bump per call that changed a versioned table
    sensor = api_client.get("/api/v1/sensors/csv-CH4").json()
    assert sensor["unit"] == "percent_lel" and sensor["expected_interval_s"] == 30  # stored in the canonical unit
    assert api_client.get("/api/v1/sensors/csv-P1").json()["expected_interval_s"] == 60  # the kind's default
    assert api_client.get("/api/v1/assets/csv-A1").json()["attributes"] == {"dn": 600}
    district = api_client.get("/api/v1/districts/csv-D1").json()
    assert district["polygon"]["type"] == "Polygon" and district["population"] == 40000
    for entity, body in files.items():
        reply = post_csv(api_client, entity, body).json()
        assert counts(reply, entity) == (0, 0, len(body.splitlines()) - 1, 0)
        assert reply["version_bumps"] == 0
    assert version(db_engine) == before + 3


def test_an_update_touches_only_the_columns_the_file_carries(api_client: TestClient, db_engine: Engine) -> None:
    for entity, body in small_city("upd-").items():
        assert post_csv(api_client, entity, body).status_code == 200
    before = version(db_engine)
    body = b"id,asset_id,utility_id,kind,active\nupd-P1,upd-A1,upd-water,water_pressure,false\n"
    reply = post_csv(api_client, "sensors", body).json()
    assert counts(reply, "sensors") == (0, 1, 0, 0) and reply["version_bumps"] == 1
    assert version(db_engine) == before + 1
    sensor = api_client.get("/api/v1/sensors/upd-P1").json()
    assert sensor["active"] is False and sensor["thresholds"] == {"red": 0.1}  # not in the file: kept


def test_a_geojson_city_in_one_collection_bumps_the_version_once(api_client: TestClient, db_engine: Engine) -> None:
    square = [[[120.3, 36.0], [120.31, 36.0], [120.31, 36.01], [120.3, 36.01], [120.3, 36.0]]]
    features = [
        {"type": "Feature", "properties": {"entity": "utility", "id": "geo-u", "name": "Geo Utility"}, "geometry": None},
        {"type": "Feature", "id": "geo-D1", "properties": {"name": "North"}, "geometry": {"type": "Polygon", "coordinates": square}},
        {"type": "Feature", "id": "geo-D2", "properties": {"name": "Islands", "population": 5},
         "geometry": {"type": "MultiPolygon", "coordinates": [square]}},
        {"type": "Feature", "properties": {"id": "geo-A1", "name": "Bridge", "kind": "bridge", "district_id": "geo-D2",
                                           "utility_id": "geo-u", "OBJECTID": 7},
         "geometry": {"type": "Point", "coordinates": [120.305, 36.005]}},
        {"type": "Feature", "properties": {"id": "geo-S1", "asset_id": "geo-A1", "utility_id": "geo-u", "kind": "strain"},
         "geometry": None},
        {"type": "Feature", "properties": {"id": "geo-S2", "asset_id": "geo-A1", "utility_id": "geo-u", "kind": "tilt"},
         "geometry": {"type": "Point", "coordinates": [120.305, 36.005]}},
    ]  # fmt: skip
    body = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    before = version(db_engine)
    reply = api_client.post(URL, content=body, headers=GEOJSON).json()
    assert reply["committed"] and reply["rejected"] == 0, reply
    assert [counts(reply, e) for e in ("utilities", "districts", "assets", "sensors")] == [
        (1, 0, 0, 0),
        (2, 0, 0, 0),
        (1, 0, 0, 0),
        (2, 0, 0, 0),
    ]
    assert reply["version_bumps"] == 1 and version(db_engine) == before + 1
    assert reply["ignored_columns"] == {"body": ["OBJECTID"]}
    asset = api_client.get("/api/v1/assets/geo-A1").json()
    assert (asset["lat"], asset["lon"]) == (36.005, 120.305)
    assert api_client.get("/api/v1/districts/geo-D2").json()["polygon"] == {"type": "Polygon", "coordinates": square}
    again = api_client.post(URL, content=body, headers=GEOJSON).json()
    assert again["version_bumps"] == 0 and sum(c["unchanged"] for c in again["counts"].values()) == 6
    assert version(db_engine) == before + 1


def test_bad_rows_are_rejected_with_reasons_and_the_good_ones_land(api_client: TestClient, db_engine: Engine) -> None:
    for entity in ("utilities", "districts", "assets"):
        assert post_csv(api_client, entity, small_city("bad-")[entity]).status_code == 200
    good = "bad-A1,bad-water,water_pressure"
    body = (
        "id,asset_id,utility_id,kind,unit,thresholds\n"
        f"bad-ok1,{good},MPa,\n"  # line 2
        f"bad id,{good},,\n"  # 3: id pattern
        "bad-kind,bad-A1,bad-water,radiation,,\n"  # 4
        f"bad-unit,{good},degC,\n"  # 5
        "bad-ref,bad-NOPE,bad-water,water_pressure,,\n"  # 6
        f"bad-ok1,{good},,\n"  # 7: duplicate of line 2
        f'bad-json,{good},,"{{not json"\n'  # 8
        f"bad-nul,{good},MPa\x00,\n"  # 9
        f"bad-ok2,{good},kPa,\n"  # 10
        "bad-short,bad-A1\n"  # 11: too few fields
        f'bad-level,{good},,"{{""purple"": 1}}"\n'  # 12
    ).encode()
    reply = post_csv(api_client, "sensors", body).json()
    assert reply["committed"] and counts(reply, "sensors") == (2, 0, 0, 9)
    errors = {e["row"]: (e["field"], e["reason"]) for e in reply["errors"]}
    assert sorted(errors) == [3, 4, 5, 6, 7, 8, 9, 11, 12]
    assert errors[3][0] == "id" and "pattern" in errors[3][1]
    assert errors[4][0] == "kind" and "radiation" in errors[4][1]
    assert errors[5][0] == "unit" and "MPa" in errors[5][1]
    assert errors[6][0] == "asset_id" and "bad-NOPE" in errors[6][1]
    assert errors[7] == ("id", "duplicate id; first at body line 2")
    assert errors[8][0] == "thresholds" and errors[9][1] == "contains a NUL character"
    assert errors[12][0] == "thresholds"
    assert reply["reasons"]["sensors.asset_id: unknown_reference"] == 1
    with db_engine.connect() as conn:
        stored = set(conn.execute(select(sensors.c.id).where(sensors.c.id.like("bad-%"))).scalars())
    assert stored == {"bad-ok1", "bad-ok2"}


def test_all_or_nothing_and_dry_run_store_nothing(api_client: TestClient, db_engine: Engine) -> None:
    files = small_city("aon-")
    bad_assets = files["assets"] + b"aon-A3,Broken,spaceship,aon-D1,,36.0,120.0,\n"
    assert post_csv(api_client, "utilities", files["utilities"]).status_code == 200
    assert post_csv(api_client, "districts", files["districts"]).status_code == 200
    before = version(db_engine)
    r = post_csv(api_client, "assets", bad_assets, all_or_nothing="true")
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert not detail["committed"] and counts(detail, "assets") == (2, 0, 0, 1) and detail["errors"][0]["row"] == 4
    dry = post_csv(api_client, "assets", files["assets"], dry_run="true").json()
    assert not dry["committed"] and counts(dry, "assets") == (2, 0, 0, 0) and dry["version_bumps"] == 0
    with db_engine.connect() as conn:
        assert conn.execute(select(assets.c.id).where(assets.c.id.like("aon-%"))).first() is None
    assert version(db_engine) == before


def test_the_import_is_for_admins_only(api_client: TestClient, db_engine: Engine) -> None:
    body = small_city("auth-")["utilities"]
    app = create_app(engine=db_engine)
    with TestClient(app) as anonymous:
        assert post_csv(anonymous, "utilities", body).status_code == 401
    with TestClient(app, headers=key_header(db_engine, role="operator")) as operator:
        assert post_csv(operator, "utilities", body).status_code == 403
    with TestClient(app, headers=key_header(db_engine, role="viewer")) as viewer:
        assert post_csv(viewer, "utilities", body).status_code == 403


@pytest.fixture()
def small_cap(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    monkeypatch.setenv("RESILIENCE_REGISTRY_IMPORT_MAX_BYTES", "2000")
    get_settings.cache_clear()
    yield 2000
    monkeypatch.delenv("RESILIENCE_REGISTRY_IMPORT_MAX_BYTES")
    get_settings.cache_clear()


def test_an_oversize_body_is_refused_with_413(api_client: TestClient, small_cap: int) -> None:
    big = b"id,name\n" + b"".join(b"big-%d,Utility %d\n" % (i, i) for i in range(500))
    assert len(big) > small_cap
    r = post_csv(api_client, "utilities", big)
    assert r.status_code == 413 and "Content-Length" in r.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap stops the read
        for lo in range(0, len(big), 500):
            yield big[lo : lo + 500]

    r = api_client.post(URL, params={"entity": "utilities"}, content=chunks(), headers=CSV)
    assert r.status_code == 413 and "reading stopped" in r.json()["detail"]


@pytest.mark.parametrize(
    ("headers", "params", "body", "status", "reason"),
    [
        (CSV, {"entity": "sensors"}, b"\xff\xfeid\n", 422, "not UTF-8"),
        (CSV, {"entity": "sensors"}, b"", 422, "empty file"),
        (CSV, {"entity": "sensors"}, b"name,kind\nx,methane\n", 422, "no 'id' column"),
        (CSV, {"entity": "sensors"}, b"id,id\nx,y\n", 422, "named twice"),
        (CSV, {"entity": "assets"}, b'id,name\nx,"' + b"y" * 200_000 + b'"\n', 422, "not CSV"),
        (CSV, {}, b"id,name\nx,y\n", 422, "names its entity"),
        (CSV, {"entity": "utilities"}, b"id\n" + b"a\n" * 500_001, 422, "more than 500000 rows"),
        (CSV, {"entity": "planets"}, b"id,name\nx,y\n", 422, None),
        (GEOJSON, {}, b"{not json", 422, "not JSON"),
        (GEOJSON, {}, b"[" * 100_000 + b"]" * 100_000, 422, "not JSON"),
        (GEOJSON, {}, b'{"type": "Feature"}', 422, "FeatureCollection"),
        ({"content-type": "application/xml"}, {}, b"<city/>", 415, "text/csv"),
    ],
)
def test_a_malformed_file_is_a_422_with_its_reason(
    api_client: TestClient,
    headers: dict[str, str],
    params: dict[str, str],
    body: bytes,
    status: int,
    reason: str | None,
) -> None:
    r = api_client.post(URL, params=params, content=body, headers=headers)
    assert r.status_code == status, r.text
    if reason is not None:
        assert reason in str(r.json()["detail"])


def test_malformed_features_are_rejected_rows_not_a_failed_file(api_client: TestClient) -> None:
    features: list[Any] = [
        "not a feature",
        {"type": "Feature", "properties": {"entity": "planet", "id": "x"}, "geometry": None},
        {"type": "Feature", "properties": {"id": "mf-A", "name": "a", "kind": "road"},
         "geometry": {"type": "Point", "coordinates": [200.0, 36.0]}},
        {"type": "Feature", "properties": {"id": "mf-D", "name": "d"},
         "geometry": {"type": "Polygon", "coordinates": [[[120.0, 36.0], [120.1, 36.0], [120.0, 36.1]]]}},
        {"type": "Feature", "properties": {"id": "mf-M", "name": "m"},
         "geometry": {"type": "MultiPolygon", "coordinates": [[[[120.0, 36.0], [120.1, 36.0], [120.0, 36.1], [120.0, 36.0]]]] * 2}},
        {"type": "Feature", "properties": {"id": "mf-N", "name": "n", "kind": "road", "attributes": {"x": float("nan")}},
         "geometry": {"type": "Point", "coordinates": [120.0, 36.0]}},
        {"type": "Feature", "properties": "nope", "geometry": None},
        {"type": "Feature", "properties": {"id": "mf-S", "name": "\ud800", "kind": "road"},
         "geometry": {"type": "Point", "coordinates": [120.0, 36.0]}},
        {"type": "Feature", "properties": {"id": "mf-T", "name": "t", "kind": "road", "attributes": {"k": "\udc00"}},
         "geometry": {"type": "Point", "coordinates": [120.0, 36.0]}},
    ]  # fmt: skip
    body = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    reply = api_client.post(URL, content=body, headers=GEOJSON).json()
    assert reply["rejected"] == 9, reply["errors"]
    assert [e["row"] for e in reply["errors"]] == list(range(9))
    fields = [e["field"] for e in reply["errors"]]
    assert fields == [
        None,
        "entity",
        "geometry",
        "polygon",
        "polygon",
        "attributes",
        "properties",
        "name",
        "attributes",
    ]
    assert "several parts" in reply["errors"][4]["reason"]


def test_ten_thousand_sensors_in_one_call(api_client: TestClient, db_engine: Engine) -> None:
    files = city_csv(10_000, prefix="big-")
    for entity, body in files.items():
        r = post_csv(api_client, entity, body)
        assert r.status_code == 200 and r.json()["rejected"] == 0, r.text[:2000]
    assert counts(r.json(), "sensors") == (10_000, 0, 0, 0)
    with db_engine.connect() as conn:
        n = conn.execute(select(sensors.c.id).where(sensors.c.id.like("big-%"))).all()
        d = conn.execute(select(districts.c.id).where(districts.c.id.like("big-%"))).all()
    assert len(n) == 10_000 and len(d) == 12


def test_the_cli_imports_files_in_one_transaction_and_names_its_database(
    db_engine: Engine, db_url: str, tmp_path: Path
) -> None:
    paths = []
    for entity, body in small_city("cli-").items():
        path = tmp_path / f"city-{entity}.csv"
        path.write_bytes(body)
        paths.append(str(path))
    before = version(db_engine)
    cmd = [sys.executable, "-m", "resilience.cli", "registry", "import", *paths]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300, env=os.environ.copy())
    assert out.returncode == 0, out.stderr
    database = db_url.rsplit("/", 1)[1]
    assert f"database {database} on " in out.stderr and "reached" in out.stderr and "password" not in out.stderr
    assert "sensors: created=2 updated=0 unchanged=0 rejected=0" in out.stdout
    assert version(db_engine) == before + 1  # four files, one transaction, one bump
    again = subprocess.run([*cmd, "--json"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert again.returncode == 0 and json.loads(again.stdout)["version_bumps"] == 0
    bad = tmp_path / "sensors-extra.csv"
    bad.write_bytes(b"id,asset_id,utility_id,kind\ncli-X,cli-NOPE,cli-gas,methane\n")
    out = subprocess.run([*cmd[:5], str(bad)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 1 and "cli-NOPE" in out.stdout


def test_the_services_login_may_import(db_engine: Engine, db_url: str) -> None:
    """The API writes as the least-privileged login (migration 0006): its rights cover the temporary tables,
    the COPY, the upserts and the version row."""
    service = make_engine(service_url(db_url))
    try:
        parsed = [parse_csv(body, entity=e, source=f"{e}.csv") for e, body in small_city("svc-").items()]
        before = version(db_engine)
        report = import_files(service, parsed, actor="test")
    finally:
        service.dispose()
    assert report.committed and report.rejected == 0 and report.counts["sensors"].created == 2
    assert report.version_bumps == 1 and version(db_engine) == before + 1


def test_two_imports_of_one_city_at_once_store_it_once(db_engine: Engine) -> None:
    """The second waits for the first's version lock, then finds every row already there."""
    files = small_city("twice-")
    before = version(db_engine)

    def run(_: int) -> Any:
        parsed = [parse_csv(body, entity=e, source=f"{e}.csv") for e, body in files.items()]
        return import_files(db_engine, parsed, actor="test")

    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(run, range(2)))
    created = sorted(sum(c.created for c in r.counts.values()) for r in reports)
    assert created == [0, 7] and sorted(r.version_bumps for r in reports) == [0, 1]
    assert version(db_engine) == before + 1


def test_the_cli_says_when_it_cannot_use_the_database(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "utilities.csv"
    path.write_bytes(b"id,name\nnodb-u,U\n")
    env = {**os.environ, "RESILIENCE_DATABASE_URL_OVERRIDE": db_url.rsplit("/", 1)[0] + "/no_such_database"}
    cmd = [sys.executable, "-m", "resilience.cli", "registry", "import", str(path)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300, env=env)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert "database no_such_database on " in out.stderr and "cannot be reached" in out.stderr
