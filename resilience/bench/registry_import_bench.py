"""``resilience bench registry-import``: register a whole synthetic city from CSV files, as a utility's GIS
export would give them, through the API's import function (parsing, validation, COPY, upserts).

Target (issue 23): ``import_s`` < 30 s for 100,000 sensors on 30,000 assets (3,000 assets per 10,000
sensors), with one registry-version bump. A second import of the same files must change nothing; its time
is ``reimport_s``. A fresh database is created for the run. The last line printed is
``sensors=... import_s=... version_bumps=... rejected=...``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import time
from collections.abc import Sequence
from typing import Any

from resilience.api.registry_files import parse_csv
from resilience.store.registry_import import COLUMNS
from resilience.api.registry_import import import_files
from resilience.bench.synthetic_city import CENTRE, build_city
from resilience.core.domain import AssetKind
from resilience.simulator.city import KIND_UTILITY, UTILITIES
from resilience.store.db import make_engine, recreate_database

ASSETS_PER_SENSOR = 0.3


def city_rows(n_sensors: int, seed: int = 0, prefix: str = "") -> dict[str, list[dict[str, Any]]]:
    """A city's registry rows per entity, ids prefixed with ``prefix`` (tests share a database)."""
    n_assets = max(1, int(n_sensors * ASSETS_PER_SENSOR))
    assets, districts, sensors = build_city(n_assets, n_sensors, n_districts=12, seed=seed)
    for i, d in enumerate(districts):
        d["id"] = prefix + d["id"]
        lat, lon = CENTRE[0] + 0.01 * i, CENTRE[1]
        ring = [[lon, lat], [lon + 0.01, lat], [lon + 0.01, lat + 0.01], [lon, lat + 0.01], [lon, lat]]
        d["polygon"] = {"type": "Polygon", "coordinates": [ring]}
    utility_of = {}
    for a in assets:
        a["id"], a["district_id"] = prefix + a["id"], prefix + a["district_id"]
        owner = KIND_UTILITY[AssetKind(a["kind"])]
        a["utility_id"] = prefix + owner if owner else None
        utility_of[a["id"]] = a["utility_id"]
    for s in sensors:
        s["id"], s["asset_id"] = prefix + s["id"], prefix + s["asset_id"]
        s["utility_id"] = utility_of[s["asset_id"]]
    utilities = [{"id": prefix + uid, "name": name} for uid, _zh, name in UTILITIES]
    return {"utilities": utilities, "districts": districts, "assets": assets, "sensors": sensors}


def to_csv(entity: str, rows: Sequence[dict[str, Any]]) -> bytes:
    """Rows as a CSV file with a header of the entity's columns (JSON columns as JSON text)."""
    present = {c for r in rows for c in r}
    columns = [c for c in COLUMNS[entity] if c in present]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(columns)
    for r in rows:
        writer.writerow(["" if r.get(c) is None else _cell(r[c]) for c in columns])
    return buf.getvalue().encode()


def _cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (dict, list)) else value


def city_csv(n_sensors: int, seed: int = 0, prefix: str = "") -> dict[str, bytes]:
    return {entity: to_csv(entity, rows) for entity, rows in city_rows(n_sensors, seed, prefix).items()}


def run_bench(args: argparse.Namespace) -> int:
    files = city_csv(args.sensors, seed=args.seed)
    size_mb = sum(len(b) for b in files.values()) / 1e6
    engine = make_engine(recreate_database("resilience_bench_registry"))
    try:
        timings, reports = [], []
        for _ in range(2):  # the second import of the same files must change nothing
            start = time.perf_counter()
            parsed = [parse_csv(data, entity=e, source=f"{e}.csv") for e, data in files.items()]
            reports.append(import_files(engine, parsed, actor="bench"))
            timings.append(time.perf_counter() - start)
    finally:
        engine.dispose()
    first, again = reports
    for entity, c in first.counts.items():
        print(f"{entity}: created={c.created} updated={c.updated} unchanged={c.unchanged} rejected={c.rejected}")
    changed = sum(c.created + c.updated for c in again.counts.values())
    print(
        f"{size_mb:.1f} MB of CSV; re-import {timings[1]:.2f} s changed {changed} rows, "
        f"bumped the version {again.version_bumps} times"
    )
    print(
        f"sensors={first.counts['sensors'].created} import_s={timings[0]:.2f} reimport_s={timings[1]:.2f} "
        f"version_bumps={first.version_bumps} rejected={first.rejected}"
    )
    return 0


def register(bench_subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = bench_subparsers.add_parser("registry-import", help="bulk registry import of a synthetic city from CSV")
    p.add_argument("--sensors", type=int, default=100_000, help="sensors (with 3,000 assets per 10,000)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run_bench)
