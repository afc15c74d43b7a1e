"""The risk routes over an in-memory repository (no database needed)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from resilience.api.auth import Principal, Role, authenticated

from resilience.api.routes.risk import get_risk_repository, parse_bucket, router
from resilience.core.domain import Level
from resilience.risk.repository import InMemoryRiskRepository

from .helpers import T0, anomaly, asset, sensor, service

GAS = "gas_explosion"


@pytest.fixture()
def repo() -> InMemoryRiskRepository:
    repo = InMemoryRiskRepository()
    assets = [asset("G1", "gas_pipeline", criticality=5), asset("W1", "water_main", district="D2")]
    svc, _ = service(assets, [sensor("S1", "G1", "methane")])
    svc.flush(repo)
    svc.handle(anomaly("S1", "G1", "methane", value=22.0, level=Level.ORANGE, minutes=10))
    svc.flush(repo)
    svc.handle(anomaly("S1", "G1", "methane", value=60.0, level=Level.RED, minutes=12))
    svc.flush(repo)
    return repo


@pytest.fixture()
def client(repo: InMemoryRiskRepository) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(router)
    app.dependency_overrides[get_risk_repository] = lambda: repo
    # the routes' logic over an in-memory repository; who may call them is tests/api/test_access.py's
    app.dependency_overrides[authenticated] = lambda: Principal("test", "test", Role.ENGINEER, None, "key")
    with TestClient(app) as c:
        yield c


def test_asset_risk(client: TestClient) -> None:
    body = client.get("/api/v1/risk/assets/G1").json()
    assert body["level"] == "red" and body["worst_hazard"] == GAS
    gas = body["hazards"][GAS]
    assert gas["likelihood"] == 5 and gas["consequence"] == 4 and gas["level"] == "red"
    assert any(f["name"] == "graded_breach" for f in gas["factors"])
    assert "methane" in gas["explanation"]
    assert client.get("/api/v1/risk/assets/NOPE").status_code == 404


def test_spectrum(client: TestClient) -> None:
    body = client.get("/api/v1/risk/spectrum").json()
    assert body["districts"] == ["D1", "D2"]
    assert body["levels"][body["hazards"].index(GAS)] == ["red", "none"]
    assert body["city"][GAS] == "red"
    assert body["counts"][f"district:D1|{GAS}"]["red"] == 1


def test_series_json_and_csv(client: TestClient) -> None:
    params = {"scope": "asset:G1", "hazard": GAS, "start": T0.isoformat(), "end": (T0 + timedelta(hours=1)).isoformat()}
    raw = client.get("/api/v1/risk/series", params=params).json()
    assert [d["level"] for d in raw["data"]] == ["none", "orange", "red"]
    bucketed = client.get("/api/v1/risk/series", params={**params, "bucket": "1h"}).json()
    assert len(bucketed["data"]) == 1 and bucketed["data"][0]["level"] == "red" and bucketed["data"][0]["n"] == 3
    resp = client.get("/api/v1/risk/series", params={**params, "bucket": "5m"}, headers={"Accept": "text/csv"})
    assert resp.headers["content-type"].startswith("text/csv")
    lines = resp.text.strip().splitlines()
    assert lines[0] == "hazard,bucket,level,avg_score,max_score,n,explanation"
    assert len(lines) == 3 and lines[-1].split(",")[2] == "red"


@pytest.mark.parametrize(
    "params",
    [
        {"scope": "everything"},
        {"scope": "city", "bucket": "5 parsecs"},
        {"scope": "city", "start": "2025-07-02T00:00:00Z", "end": "2025-07-01T00:00:00Z"},
        {"scope": "city", "start": "2020-01-01T00:00:00Z", "end": "2025-07-01T00:00:00Z"},  # raw: too long
        {"scope": "city", "start": "2020-01-01T00:00:00Z", "end": "2025-07-01T00:00:00Z", "bucket": "1m"},
    ],
)
def test_series_rejects_bad_input(client: TestClient, params: dict[str, str]) -> None:
    assert client.get("/api/v1/risk/series", params=params).status_code == 422


def test_parse_bucket() -> None:
    assert parse_bucket("5m") == timedelta(minutes=5) and parse_bucket("1d") == timedelta(days=1)
    assert parse_bucket(None) is None


def test_bucketed_series_spans_years(client: TestClient) -> None:
    """A bucket bounds the answer, so a bucketed query may span years where a raw one may not."""
    params = {"scope": "asset:G1", "hazard": GAS, "start": (T0 - timedelta(days=3 * 365)).isoformat()}
    body = client.get(
        "/api/v1/risk/series", params={**params, "end": (T0 + timedelta(days=1)).isoformat(), "bucket": "1d"}
    )
    assert body.status_code == 200
    (day,) = body.json()["data"]
    assert day["level"] == "red" and "methane" in day["explanation"]


def test_hazard_series_gives_every_district_side_by_side(client: TestClient) -> None:
    params = {"start": T0.isoformat(), "end": (T0 + timedelta(hours=1)).isoformat(), "bucket": "1h"}
    body = client.get(f"/api/v1/risk/hazards/{GAS}/series", params=params).json()
    assert body["hazard"] == GAS and body["bucket"] == "1h"
    by_district = {d["district_id"]: d["data"] for d in body["districts"]}
    assert "D1" in by_district and body["count"] == sum(len(v) for v in by_district.values())
    (hour,) = by_district["D1"]
    assert hour["level"] == "red" and "G1" in hour["explanation"]  # the district names its worst asset
    resp = client.get(f"/api/v1/risk/hazards/{GAS}/series", params=params, headers={"Accept": "text/csv"})
    lines = resp.text.strip().splitlines()
    assert resp.headers["content-type"].startswith("text/csv")
    assert lines[0] == "district_id,hazard,bucket,level,avg_score,max_score,n,explanation"
    assert len(lines) == 1 + body["count"] and any(line.startswith("D1,") and ",red," in line for line in lines)


@pytest.mark.parametrize(
    ("hazard", "params"),
    [
        ("meteor_strike", {}),  # not a hazard the platform knows
        (GAS, {"bucket": ""}),  # a city-wide answer is bucketed
        (GAS, {"bucket": "5 parsecs"}),
        (GAS, {"start": "2020-01-01T00:00:00Z", "end": "2025-07-01T00:00:00Z", "bucket": "1m"}),  # too many buckets
    ],
)
def test_hazard_series_rejects_bad_input(client: TestClient, hazard: str, params: dict[str, str]) -> None:
    resp = client.get(f"/api/v1/risk/hazards/{hazard}/series", params=params)
    assert resp.status_code == 422 and resp.json().get("detail"), resp.text
