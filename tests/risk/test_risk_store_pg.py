"""PgRiskRepository and the risk routes against the real, migrated test database."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from resilience.core.domain import Level
from resilience.risk.repository import CurrentRow, InMemoryRiskRepository
from resilience.risk.series import SeriesPoint
from resilience.risk.store import PgRiskRepository
from resilience.store.registry import insert_many

from .helpers import T0, anomaly, asset, sensor, service

GAS = "gas_explosion"


@pytest.fixture()
def uid() -> str:
    return uuid.uuid4().hex[:8]


def test_current_upsert_and_read(db_engine: Engine, uid: str) -> None:
    """The model's latest assessment is what the row says, even when a late event changed it; the row's time
    never goes back."""
    scope = f"asset:{uid}"
    with db_engine.begin() as conn:
        repo = PgRiskRepository(conn)
        repo.write_current([CurrentRow(scope, GAS, 0.61, Level.ORANGE, T0, 4, 4, [{"name": "x", "weight": 0.6}], "e1")])
        repo.write_current([CurrentRow(scope, GAS, 0.81, Level.RED, T0 + timedelta(minutes=1), 5, 4, [], "e2")])
    with db_engine.connect() as conn:
        (row,) = PgRiskRepository(conn).read_current(scope=scope)
    assert (row.level, row.score, row.likelihood, row.explanation) == (Level.RED, 0.81, 5, "e2")
    with db_engine.begin() as conn:  # a reading five minutes late lowered the assessment: the row follows it
        PgRiskRepository(conn).write_current(
            [CurrentRow(scope, GAS, 0.1, Level.NONE, T0 - timedelta(minutes=5), 1, 4, [], "late")]
        )
    with db_engine.connect() as conn:
        (row,) = PgRiskRepository(conn).read_current(scope=scope)
    assert (row.level, row.explanation, row.updated_at) == (Level.NONE, "late", T0 + timedelta(minutes=1))


def test_series_append_and_bucketed_query(db_engine: Engine, uid: str) -> None:
    scope = f"district:{uid}"
    points = [
        SeriesPoint(scope, GAS, T0 + timedelta(minutes=m), s, lvl, "")
        for m, s, lvl in [(0, 0.2, Level.BLUE), (2, 0.6, Level.ORANGE), (7, 0.4, Level.YELLOW), (61, 0.9, Level.RED)]
    ]
    with db_engine.begin() as conn:
        repo = PgRiskRepository(conn)
        repo.append_series(points)
        repo.append_series([SeriesPoint(scope, GAS, T0 + timedelta(minutes=7), 0.45, Level.YELLOW, "again")])
    with db_engine.connect() as conn:
        repo = PgRiskRepository(conn)
        five = repo.query_series(scope, GAS, T0, T0 + timedelta(hours=2), timedelta(minutes=5))
        hour = repo.query_series(scope, None, T0, T0 + timedelta(hours=2), timedelta(hours=1))
        raw = repo.query_series(scope, GAS, T0, T0 + timedelta(minutes=10))
    assert [(b.bucket, b.level, b.n) for b in five] == [
        (T0, Level.ORANGE, 2),
        (T0 + timedelta(minutes=5), Level.YELLOW, 1),
        (T0 + timedelta(minutes=60), Level.RED, 1),
    ]
    assert abs(five[0].avg_score - 0.4) < 1e-9 and five[0].max_score == 0.6
    assert [(b.bucket, b.level) for b in hour] == [(T0, Level.ORANGE), (T0 + timedelta(hours=1), Level.RED)]
    assert [b.explanation for b in raw][-1] == "again" and len(raw) == 3


def test_service_flush_and_routes(db_engine: Engine, api_client, uid: str) -> None:  # type: ignore[no-untyped-def]
    g = f"G{uid}"
    svc, _ = service(
        [asset(g, "gas_pipeline", criticality=5, district=f"D{uid}")],
        [sensor(f"S{uid}", g, "methane")],
        districts=[{"id": f"D{uid}", "name": "Test", "population": 40_000}],
    )
    svc.handle(anomaly(f"S{uid}", g, "methane", value=22.0, level=Level.ORANGE))
    with db_engine.begin() as conn:
        rows, points = svc.flush(PgRiskRepository(conn))
    assert rows >= 3 and points >= 3
    body = api_client.get(f"/api/v1/risk/assets/{g}").json()
    assert body["hazards"][GAS]["level"] == "orange" and body["hazards"][GAS]["factors"]
    spectrum = api_client.get("/api/v1/risk/spectrum").json()
    assert f"D{uid}" in spectrum["districts"]
    resp = api_client.get(
        "/api/v1/risk/series",
        params={
            "scope": f"asset:{g}",
            "hazard": GAS,
            "start": T0.isoformat(),
            "bucket": "1h",
            "end": (T0 + timedelta(hours=2)).isoformat(),
        },
        headers={"Accept": "text/csv"},
    )
    assert resp.status_code == 200 and resp.text.splitlines()[1].split(",")[2] == "orange"


@pytest.mark.parametrize("backend", ["pg", "memory"])
def test_bucket_carries_the_explanation_of_its_max_level(db_engine: Engine, uid: str, backend: str) -> None:
    """A bucket's explanation is the one of the change that set its max level, not of a later, lower point,
    and the in-memory repository answers the same as PostgreSQL."""
    scope = f"asset:{uid}"
    points = [
        SeriesPoint(scope, GAS, T0 + timedelta(minutes=m), s, lvl, why)
        for m, s, lvl, why in [
            (0, 0.2, Level.BLUE, "quiet"),
            (1, 0.8, Level.RED, "methane 60 %LEL"),
            (2, 0.85, Level.RED, "still red"),
            (3, 0.4, Level.YELLOW, "falling"),
        ]
    ]
    if backend == "memory":
        memory = InMemoryRiskRepository()
        memory.append_series(points)
        hour = memory.query_series(scope, GAS, T0, T0 + timedelta(hours=1), timedelta(hours=1))
    else:
        with db_engine.begin() as conn:
            PgRiskRepository(conn).append_series(points)
        with db_engine.connect() as conn:
            hour = PgRiskRepository(conn).query_series(scope, GAS, T0, T0 + timedelta(hours=1), timedelta(hours=1))
    assert [(b.level, b.n, b.explanation) for b in hour] == [(Level.RED, 4, "methane 60 %LEL")]


@pytest.mark.parametrize("backend", ["pg", "memory"])
def test_one_hazard_for_every_district_in_one_call(db_engine: Engine, uid: str, backend: str) -> None:
    """Every district's buckets for one hazard, each with the explanation of its max level; another hazard,
    an asset's points and a point outside the period stay out, and both repositories answer the same."""
    north, south = f"N{uid}", f"S{uid}"
    points = [
        SeriesPoint(f"district:{north}", GAS, T0, 0.2, Level.BLUE, "quiet"),
        SeriesPoint(f"district:{north}", GAS, T0 + timedelta(minutes=20), 0.7, Level.ORANGE, "methane 25 %LEL"),
        SeriesPoint(f"district:{north}", GAS, T0 + timedelta(hours=1), 0.9, Level.RED, "methane 60 %LEL"),
        SeriesPoint(f"district:{south}", GAS, T0 + timedelta(minutes=5), 0.1, Level.BLUE, "quiet south"),
        SeriesPoint(f"district:{south}", "waterlogging", T0, 0.9, Level.RED, "flooded"),
        SeriesPoint(f"district:{south}", GAS, T0 + timedelta(hours=5), 0.9, Level.RED, "after the period"),
        SeriesPoint(f"asset:G{uid}", GAS, T0, 0.9, Level.RED, "an asset, not a district"),
    ]
    end = T0 + timedelta(hours=2)
    if backend == "memory":
        memory = InMemoryRiskRepository()
        memory.append_series(points)
        got = memory.query_district_series(GAS, T0, end, timedelta(hours=1))
    else:
        with db_engine.begin() as conn:
            insert_many(conn, table="districts", rows=[{"id": d, "name": d, "population": 1} for d in (north, south)])
            PgRiskRepository(conn).append_series(points)
        with db_engine.connect() as conn:
            everyone = PgRiskRepository(conn).query_district_series(GAS, T0, end, timedelta(hours=1))
        got = {scope: buckets for scope, buckets in everyone.items() if scope.endswith(uid)}
    assert {s: [(b.bucket, b.level, b.n, b.explanation) for b in bs] for s, bs in got.items()} == {
        f"district:{north}": [
            (T0, Level.ORANGE, 2, "methane 25 %LEL"),
            (T0 + timedelta(hours=1), Level.RED, 1, "methane 60 %LEL"),
        ],
        f"district:{south}": [(T0, Level.BLUE, 1, "quiet south")],
    }
