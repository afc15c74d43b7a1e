"""Readings answers are capped at ``limit`` rows and paged with ``next``: following it gives every row once."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from resilience.api.routes.readings import MAX_ROWS
from resilience.runtime.scheduler_process import maintain_store
from resilience.core.settings import get_settings

N = 25  # readings, one a minute


@pytest.fixture()
def sensor(api_client: TestClient, db_engine: Engine) -> tuple[str, float]:
    """A fresh sensor with N readings a minute apart from half an hour ago, folded into the rollups (another
    test's maintenance run may have moved their watermark past them)."""
    tag = uuid.uuid4().hex[:8]
    utility, asset, sensor_id = f"PG-U-{tag}", f"PG-A-{tag}", f"PG-S-{tag}"
    for path, body in (
        ("/api/v1/utilities", {"id": utility, "name": "paging"}),
        (
            "/api/v1/assets",
            {
                "id": asset,
                "name": "paging main",
                "kind": "water_main",
                "utility_id": utility,
                "lat": 36.0,
                "lon": 120.0,
            },
        ),
        ("/api/v1/sensors", {"id": sensor_id, "asset_id": asset, "utility_id": utility, "kind": "water_pressure"}),
    ):
        assert api_client.post(path, json=body).status_code == 201, path
    base = (int(time.time()) // 300) * 300 - 1800
    pack = [{"bn": "", "bt": base, "n": sensor_id, "t": i * 60, "v": float(i)} for i in range(N)]
    r = api_client.post("/api/v1/ingest", json=pack, headers={"X-Utility-Id": utility})
    assert r.status_code == 200 and r.json()["accepted"] == N, r.text
    maintain_store(db_engine, get_settings())
    return sensor_id, base


def _pages(client: TestClient, sensor_id: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    pages, start = [], params["start"]
    for _ in range(N + 2):
        body = client.get(f"/api/v1/sensors/{sensor_id}/readings", params={**params, "start": start}).json()
        pages.append(body)
        if body["next"] is None:
            return pages
        start = body["next"]
    raise AssertionError("paging did not end")


def test_raw_pages_cover_every_reading_once(api_client: TestClient, sensor: tuple[str, float]) -> None:
    sensor_id, base = sensor
    start = datetime.fromtimestamp(base, UTC).isoformat()
    pages = _pages(api_client, sensor_id, {"start": start, "limit": 10})
    assert [p["count"] for p in pages] == [10, 10, 5]
    assert [row["value"] for p in pages for row in p["data"]] == [float(i) for i in range(N)]
    assert pages[0]["next"] == pages[1]["data"][0]["ts"]  # the next page starts at its first row


def test_bucket_pages_match_the_unpaged_answer(api_client: TestClient, sensor: tuple[str, float]) -> None:
    sensor_id, base = sensor
    params = {
        "start": datetime.fromtimestamp(base, UTC).isoformat(),
        "end": datetime.fromtimestamp(base + 3600, UTC).isoformat(),
        "bucket": "5m",
        "agg": "sum",
    }
    whole = api_client.get(f"/api/v1/sensors/{sensor_id}/readings", params=params).json()
    assert whole["next"] is None and whole["count"] == 5, whole  # 25 minutes of readings in 5-minute buckets
    pages = _pages(api_client, sensor_id, {**params, "limit": 2})
    assert all(p["count"] <= 2 for p in pages)
    assert [b for p in pages for b in p["data"]] == whole["data"]


def test_csv_pages_name_the_next_start(api_client: TestClient, sensor: tuple[str, float]) -> None:
    sensor_id, base = sensor
    r = api_client.get(
        f"/api/v1/sensors/{sensor_id}/readings",
        headers={"Accept": "text/csv"},
        params={"start": datetime.fromtimestamp(base, UTC).isoformat(), "limit": 3},
    )
    assert len(r.text.strip().splitlines()) == 1 + 3
    assert datetime.fromisoformat(r.headers["X-Next-Start"]) == datetime.fromtimestamp(base + 180, UTC)


@pytest.mark.parametrize(
    "params",
    [
        {"limit": MAX_ROWS + 1},
        {"limit": 0},
        {"bucket": "7m"},
        {"agg": "median"},
        {"end": "0001-01-01T00:00:00"},
        {"start": "2030-01-01T00:00:00Z", "end": "2020-01-01T00:00:00Z"},
    ],
)
def test_bad_query_values_are_422_with_a_reason(
    api_client: TestClient, sensor: tuple[str, float], params: dict[str, Any]
) -> None:
    r = api_client.get(f"/api/v1/sensors/{sensor[0]}/readings", params=params)
    assert r.status_code == 422 and r.json()["detail"]
