"""``resilience bench risk``: time a full recomputation and single-event updates on a synthetic city.

Targets (issue 4): full recomputation < 1 s for 3,000 assets and 10,000 sensors; one event < 5 ms.
The last line printed is ``full_recompute_ms=... incremental_ms=...`` (medians).
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta

import numpy as np

from resilience.core.events import InMemoryEventBus
from resilience.risk.service import RiskService
from resilience.bench.synthetic_city import build_city, random_anomaly


def run_bench(args: argparse.Namespace) -> int:
    t0 = datetime(2025, 7, 1, tzinfo=UTC)
    assets, districts, sensors = build_city(args.assets, args.sensors, args.districts, seed=args.seed)
    bus = InMemoryEventBus()
    start = time.perf_counter()
    svc = RiskService(assets=assets, districts=districts, sensors=sensors, bus=bus, subscribe_to=bus, clock=lambda: t0)
    build_ms = (time.perf_counter() - start) * 1000
    rng = np.random.default_rng(args.seed + 1)
    open_ids: dict[str, dict[str, object]] = {}
    ts = t0
    for _ in range(args.warm_events):  # some live evidence so the recomputation does real work
        ts += timedelta(seconds=1)
        svc.handle(random_anomaly(rng, sensors, ts, open_ids))
    full: list[float] = []
    for _ in range(args.repeat):
        ts += timedelta(minutes=1)
        start = time.perf_counter()
        svc.recompute_all(ts)
        full.append((time.perf_counter() - start) * 1000)
    inc: list[float] = []
    for _ in range(args.events):
        ts += timedelta(seconds=1)
        event = random_anomaly(rng, sensors, ts, open_ids)
        start = time.perf_counter()
        svc.handle(event)
        inc.append((time.perf_counter() - start) * 1000)
    n_pairs = len(svc.model.pairs_)
    levels = svc.spectrum().city
    print(
        f"city: {len(assets)} assets, {len(sensors)} sensors, {len(districts)} districts, {n_pairs} asset-hazard "
        f"pairs, {svc.model.graph_.n_edges} coupling edges; build {build_ms:.0f} ms"
    )
    print(
        f"open anomalies {len(open_ids)}; risk events published {len(bus.published)}; city levels "
        + ", ".join(f"{h}={lvl.label}" for h, lvl in levels.items())
    )
    print(f"incremental p95 {np.percentile(inc, 95):.3f} ms, max {max(inc):.3f} ms over {len(inc)} events")
    print(f"full_recompute_ms={statistics.median(full):.1f} incremental_ms={statistics.median(inc):.3f}")
    return 0


def register(bench_subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = bench_subparsers.add_parser("risk", help="risk spectrum: full recomputation and incremental update times")
    p.add_argument("--assets", type=int, default=3000)
    p.add_argument("--sensors", type=int, default=10000)
    p.add_argument("--districts", type=int, default=12)
    p.add_argument("--repeat", type=int, default=5, help="full recomputations to time")
    p.add_argument("--events", type=int, default=2000, help="single events to time")
    p.add_argument("--warm-events", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run_bench)
