"""``resilience bench query``: history queries through the API next to the same SQL run directly (issue 25).

Seeds through the platform's write paths (``insert_new_readings``, the store function the ingest worker
calls; the rollup refresher; ``PgRiskRepository.append_series``, the risk engine's writer): one sensor x
``--days`` (default 365) at 1/min, ``--sensors`` (default 1,000) x 1 day at 1/min and a 30-day hourly risk
series for every district and hazard. Then, warm, median of ``--repeat``: a year by day, one day raw and a
30-day district risk series by hour, each via HTTP (uvicorn on loopback) and as the route's SQL alone.
Goals: year by day < 50 ms, day raw < 20 ms, district risk 30 d < 50 ms, each API figure within 2x of its SQL.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from resilience.bench.console_bench import serve
from resilience.core.domain import Level, Reading
from resilience.risk.series import SeriesPoint
from resilience.risk.store import PgRiskRepository
from resilience.store import api_keys
from resilience.store import rollups
from resilience.store.db import Engine, analyze, make_engine, recreate_database
from resilience.store.readings import insert_new_readings, query_bucketed, query_raw
from resilience.store.registry import insert_many
from resilience.store.timeseries import get_backend

HAZARDS = ["gas_explosion", "waterlogging", "water_main_burst", "structural_failure", "heating_leak"]
N_DISTRICTS = 20
END = datetime(2026, 6, 1, tzinfo=UTC)
BATCH = 50_000


def _seed_registry(engine: Engine, n_sensors: int) -> None:
    with engine.begin() as conn:
        insert_many(conn, table="utilities", rows=[{"id": "bench-water", "name": "Bench Water"}])
        insert_many(
            conn,
            table="districts",
            rows=[{"id": f"D{i:02d}", "name": f"District {i:02d}", "population": 100_000} for i in range(N_DISTRICTS)],
        )
        insert_many(
            conn,
            table="assets",
            rows=[
                {
                    "id": f"A{i:05d}",
                    "name": f"Main {i:05d}",
                    "kind": "water_main",
                    "district_id": f"D{i % N_DISTRICTS:02d}",
                    "utility_id": "bench-water",
                    "lat": 36.0 + i * 1e-4,
                    "lon": 120.3,
                }
                for i in range(n_sensors + 1)
            ],
        )
        insert_many(
            conn,
            table="sensors",
            rows=[
                {
                    "id": f"S{i:05d}",
                    "asset_id": f"A{i:05d}",
                    "utility_id": "bench-water",
                    "kind": "pressure",
                    "unit": "MPa",
                    "expected_interval_s": 60,
                }
                for i in range(n_sensors + 1)
            ],
        )


def _write(engine: Engine, readings: list[Reading]) -> int:
    with engine.begin() as conn:
        backend = get_backend(conn)
        return len(insert_new_readings(conn, readings, backend))


def seed_readings(engine: Engine, days: int, n_sensors: int) -> tuple[int, float]:
    """S00000 over ``days`` and S00001.. over the last day, at 1/min; returns rows and seconds."""
    t0 = time.perf_counter()
    rows = 0
    batch: list[Reading] = []
    start = END - timedelta(days=days)
    for m in range(days * 1440):
        batch.append(Reading("S00000", start + timedelta(minutes=m), 0.3 + (m % 97) * 1e-3))
        if len(batch) >= BATCH:
            rows += _write(engine, batch)
            batch = []
    day0 = END - timedelta(days=1)
    for s in range(1, n_sensors + 1):
        batch.extend(Reading(f"S{s:05d}", day0 + timedelta(minutes=m), 0.3 + (m % 89) * 1e-3) for m in range(1440))
        if len(batch) >= BATCH:
            rows += _write(engine, batch)
            batch = []
    rows += _write(engine, batch)
    return rows, time.perf_counter() - t0


def refresh_rollups(engine: Engine) -> None:
    """Run the refresher until the rollups are up to date, as the scheduler would."""
    with engine.begin() as conn:
        rollups.move_threshold(conn, END + timedelta(hours=2))
    while True:
        with engine.begin() as conn:
            if rollups.refresh(conn) == 0:
                return


def seed_risk(engine: Engine) -> int:
    """Hourly points for 30 days per district and hazard, through the risk store's writer."""
    start = END - timedelta(days=30)
    n = 0
    for d in range(N_DISTRICTS):
        points = [
            SeriesPoint(
                f"district:D{d:02d}",
                h,
                start + timedelta(hours=k),
                ((k + d) % 50) / 50,
                Level(((k + d) // 24) % 5),
                "x",
            )
            for h in HAZARDS
            for k in range(30 * 24)
        ]
        with engine.begin() as conn:
            PgRiskRepository(conn).append_series(points)
        n += len(points)
    return n


def median_ms(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def measure(engine: Engine, base: str, key: str, days: int, n_sensors: int, repeat: int) -> dict[str, float]:
    mid = f"S{max(1, n_sensors // 2):05d}"  # one of the one-day sensors
    year = {"start": (END - timedelta(days=days)).isoformat(), "end": END.isoformat()}
    day = {"start": (END - timedelta(days=1)).isoformat(), "end": END.isoformat()}
    risk = {"start": (END - timedelta(days=30)).isoformat(), "end": END.isoformat()}
    out: dict[str, float] = {}
    with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=60) as client:

        def get(path: str, params: dict[str, Any]) -> Callable[[], Any]:
            def call() -> Any:
                r = client.get(path, params=params)
                r.raise_for_status()
                return r.json()

            return call

        out["year_by_day_ms"] = median_ms(
            get("/api/v1/sensors/S00000/readings", {**year, "bucket": "1d", "limit": 1000}), repeat
        )
        out["day_raw_ms"] = median_ms(get(f"/api/v1/sensors/{mid}/readings", {**day, "limit": 2000}), repeat)
        out["district_risk_30d_ms"] = median_ms(
            get("/api/v1/risk/series", {**risk, "scope": "district:D03", "hazard": HAZARDS[0], "bucket": "1h"}),
            repeat,
        )
        out["hazard_districts_30d_ms"] = median_ms(
            get(f"/api/v1/risk/hazards/{HAZARDS[0]}/series", {**risk, "bucket": "1h"}), repeat
        )
    with engine.connect() as conn:
        s_year, s_day, s_risk = (END - timedelta(days=days)), (END - timedelta(days=1)), (END - timedelta(days=30))
        out["year_by_day_sql_ms"] = median_ms(
            lambda: query_bucketed(conn, sensor_id="S00000", start=s_year, end=END, bucket="1d", agg="avg"), repeat
        )
        out["day_raw_sql_ms"] = median_ms(
            lambda: query_raw(conn, sensor_id=mid, start=s_day, end=END, limit=2001), repeat
        )
        repo = PgRiskRepository(conn)
        out["district_risk_30d_sql_ms"] = median_ms(
            lambda: repo.query_series("district:D03", HAZARDS[0], s_risk, END, timedelta(hours=1)), repeat
        )
        out["hazard_districts_30d_sql_ms"] = median_ms(
            lambda: repo.query_district_series(HAZARDS[0], s_risk, END, timedelta(hours=1)), repeat
        )
    return out


def run_bench(args: argparse.Namespace) -> int:
    engine = make_engine(recreate_database("resilience_bench_query"))
    _seed_registry(engine, args.sensors)
    rows, secs = seed_readings(engine, args.days, args.sensors)
    print(f"seeded {rows} readings in {secs:.1f} s ({rows / secs:.0f} rows/s)", flush=True)
    t = time.perf_counter()
    refresh_rollups(engine)
    n_risk = seed_risk(engine)
    print(f"rollups refreshed and {n_risk} risk points written in {time.perf_counter() - t:.1f} s", flush=True)
    with engine.begin() as conn:
        _, key = api_keys.create_key(conn, name="bench-query", role="engineer")
        analyze(conn)
    server, thread, port = serve(engine)
    try:
        figures = measure(engine, f"http://127.0.0.1:{port}", key, args.days, args.sensors, args.repeat)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    figures["backfill_rows_per_s"] = rows / secs
    keys = [
        "year_by_day_ms",
        "year_by_day_sql_ms",
        "day_raw_ms",
        "day_raw_sql_ms",
        "district_risk_30d_ms",
        "district_risk_30d_sql_ms",
        "backfill_rows_per_s",
        "hazard_districts_30d_ms",  # every district's series for one hazard, in one call
        "hazard_districts_30d_sql_ms",
    ]
    print(" ".join(f"{k}={figures[k]:.1f}" for k in keys))
    return 0


def register(bench_subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = bench_subparsers.add_parser("query", help="history queries: API next to the same SQL (issue 25)")
    p.add_argument("--days", type=int, default=365, help="days of the one long sensor (1/min)")
    p.add_argument("--sensors", type=int, default=1000, help="sensors with one day at 1/min")
    p.add_argument("--repeat", type=int, default=5)
    p.set_defaults(func=run_bench)
