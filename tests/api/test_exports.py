"""An export has no silent cut: more readings than a page holds download in one file, CSV or Parquet, every
reading once and the newest included."""

from __future__ import annotations

import csv
import io
import time
import uuid

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from resilience.api.routes.readings import MAX_ROWS

N = MAX_ROWS + 5_000  # more than one JSON page


@pytest.fixture(scope="module")
def long_series(db_engine) -> tuple[str, float]:  # type: ignore[no-untyped-def]
    """A sensor with N readings 10 s apart ending a minute ago, back-filled over HTTP in packs of 3,000 (the payload cap)."""
    from resilience.api.main import create_app
    from tests.auth import key_header

    tag = uuid.uuid4().hex[:8]
    utility, asset, sensor_id = f"EX-U-{tag}", f"EX-A-{tag}", f"EX-S-{tag}"
    with TestClient(create_app(engine=db_engine), headers=key_header(db_engine)) as client:
        for path, body in (
            ("/api/v1/utilities", {"id": utility, "name": "export"}),
            (
                "/api/v1/assets",
                {
                    "id": asset,
                    "name": "export main",
                    "kind": "water_main",
                    "utility_id": utility,
                    "lat": 36.0,
                    "lon": 120.0,
                },
            ),
            ("/api/v1/sensors", {"id": sensor_id, "asset_id": asset, "utility_id": utility, "kind": "water_pressure"}),
        ):
            assert client.post(path, json=body).status_code == 201, path
        first = int(time.time()) - 60 - 10 * (N - 1)
        for k in range(0, N, 3_000):
            pack = [
                {"bn": "", "bt": first, "n": sensor_id, "t": 10 * i, "v": 0.3 + i * 1e-6}
                for i in range(k, min(N, k + 3_000))
            ]
            r = client.post("/api/v1/ingest", json=pack, headers={"X-Utility-Id": utility})
            assert r.status_code == 200 and r.json()["accepted"] == len(pack), r.text[:300]
    return sensor_id, float(first)


def _window(first: float) -> dict[str, str]:
    from datetime import UTC, datetime

    return {
        "start": datetime.fromtimestamp(first - 1, UTC).isoformat(),
        "end": datetime.fromtimestamp(time.time() + 1, UTC).isoformat(),
    }


def test_csv_export_has_every_reading_beyond_a_page(api_client: TestClient, long_series: tuple[str, float]) -> None:
    sensor_id, first = long_series
    page = api_client.get(f"/api/v1/sensors/{sensor_id}/readings", params={**_window(first), "limit": MAX_ROWS})
    assert page.json()["count"] == MAX_ROWS and page.json()["next"] is not None  # a page is cut and says so
    r = api_client.get(f"/api/v1/sensors/{sensor_id}/readings/export", params=_window(first))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == N and len({row["ts"] for row in rows}) == N
    assert float(rows[-1]["value"]) == pytest.approx(0.3 + (N - 1) * 1e-6)  # the newest is there


def test_parquet_export_reads_back_in_full(api_client: TestClient, long_series: tuple[str, float]) -> None:
    sensor_id, first = long_series
    r = api_client.get(f"/api/v1/sensors/{sensor_id}/readings/export", params={**_window(first), "format": "parquet"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(r.content))
    assert table.num_rows == N and table.schema.names == ["ts", "value", "quality"]
    ts = table.column("ts").to_pylist()
    assert ts == sorted(ts) and len(set(ts)) == N and ts[0].timestamp() == pytest.approx(first)
    assert api_client.get(f"/api/v1/sensors/{sensor_id}/readings/export", params={"format": "xlsx"}).status_code == 422
    assert api_client.get("/api/v1/sensors/NOPE-1/readings/export").status_code == 404
