"""``resilience bench city``: issue 23's figures in one run on one synthetic city (100,000 sensors by default,
3,000 assets per 10,000 sensors).

It composes the separate benches' parts: the bulk CSV import (``registry-import``) into a fresh database,
the detection worker's state on that registry (``detector-state``: RSS, snapshot, recovery), the risk
recompute at 3,000 and 30,000 assets (``risk``, same-density cities) and a red alert behind a flood of low
events (``red-flood``). Goals: import < 30 s, RSS < 1,000 MB, snapshot < 5 s, recovery < 10 s, risk at 30k
< 2,000 ms and within 12x of the 3k figure, red behind flood < 1,000 ms. The last line is
``sensors=... import_s=... detector_rss_mb=... snapshot_s=... snapshot_bytes=... recovery_s=...
risk_full_ms=... risk_30k_full_ms=... red_behind_flood_ms=... load_1m=... load_1m_end=...``.
"""

from __future__ import annotations

import argparse
import gc
import os
import time
from typing import Any

from resilience.api.registry_files import parse_csv
from resilience.api.registry_import import import_files
from resilience.bench.detector_state_bench import detector_figures
from resilience.bench.red_flood_bench import _seed as seed_red_flood
from resilience.bench.red_flood_bench import red_behind_flood_ms
from resilience.bench.registry_import_bench import city_csv
from resilience.bench.risk_bench import risk_full_ms
from resilience.store.db import make_engine, recreate_database


def _import_s(args: argparse.Namespace) -> tuple[float, dict[str, Any]]:
    """Import the city into a fresh database (timed, as ``registry-import`` does), then the detector figures."""
    files = city_csv(args.sensors, seed=args.seed)
    db = make_engine(recreate_database("resilience_bench_city"))
    try:
        start = time.perf_counter()
        parsed = [parse_csv(data, entity=e, source=f"{e}.csv") for e, data in files.items()]
        report = import_files(db, parsed, actor="bench")
        import_s = time.perf_counter() - start
        if report.rejected:
            raise SystemExit(f"the import rejected {report.rejected} rows")
        del files, parsed
        gc.collect()
        return import_s, detector_figures(db, args)
    finally:
        db.dispose()


def run_bench(args: argparse.Namespace) -> int:
    load = os.getloadavg()[0]
    import_s, det = _import_s(args)
    print(f"imported {det['sensors']} sensors in {import_s:.2f} s; recovered {det['recovered_equal']}/{det['sampled']}")
    gc.collect()
    base_assets = max(1, args.risk_assets // 10)
    risk_ms = risk_full_ms(base_assets, seed=args.seed)
    risk_big_ms = risk_full_ms(args.risk_assets, seed=args.seed)
    print(f"risk full recompute: {base_assets} assets {risk_ms:.0f} ms, {args.risk_assets} assets {risk_big_ms:.0f} ms")
    url = recreate_database("resilience_bench_red_flood")
    seed_engine = make_engine(url)
    try:
        seed_red_flood(seed_engine, args.flood)
    finally:
        seed_engine.dispose()
    red_ms = red_behind_flood_ms(url, flood=args.flood)
    print(
        f"sensors={det['sensors']} import_s={import_s:.2f} detector_rss_mb={det['detector_rss_mb']:.0f} "
        f"snapshot_s={det['snapshot_s']:.2f} snapshot_bytes={det['snapshot_bytes']} "
        f"recovery_s={det['recovery_s']:.2f} risk_full_ms={risk_ms:.0f} risk_30k_full_ms={risk_big_ms:.0f} "
        f"red_behind_flood_ms={red_ms:.0f} load_1m={load:.2f} load_1m_end={os.getloadavg()[0]:.2f}"
    )
    return 0 if det["recovered_equal"] == det["sampled"] else 1


def register(bench_subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = bench_subparsers.add_parser("city", help="issue 23's city-scale figures in one run on one registry")
    p.add_argument("--sensors", type=int, default=100_000, help="sensors (with 3,000 assets per 10,000)")
    p.add_argument("--risk-assets", type=int, default=30_000, help="assets of the large risk city (base: a tenth)")
    p.add_argument("--readings", type=int, default=10, help="readings per sensor scored through the hand-off")
    p.add_argument("--flood", type=int, default=1000, help="low-level events queued before the red")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run_bench)
