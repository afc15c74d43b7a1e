"""``resilience bench risk``: time a full recomputation and single-event updates on a synthetic city.

Targets (issue 4): full recomputation < 1 s for 3,000 assets and 10,000 sensors; one event < 5 ms.
The last line printed is ``full_recompute_ms=... incremental_ms=... risk_full_ms=... risk_30k_full_ms=...``
(medians; the last two are 3,000 and 30,000 assets at the same density, measured in the same run, issue 23).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from datetime import UTC, datetime, timedelta

import numpy as np

from resilience.core.events import InMemoryEventBus
from resilience.risk.service import RiskService
from resilience.bench.synthetic_city import build_city, random_anomaly

BASE_ASSETS = 3000
BASE_SIZE_KM = 20.0  # build_city's default area for BASE_ASSETS


def risk_full_ms(n_assets: int, *, repeat: int = 3, seed: int = 0, warm_events: int = 1000, full: bool = True) -> float:
    """Median ms of ``RiskService.recompute_all`` on a synthetic city of ``n_assets`` (sensors 10/3 per asset,
    area grown with the count so density stays that of the 3,000-asset city), after ``warm_events`` anomalies.

    ``full=True`` re-assesses every pair (the worst case, as after a refit); ``False`` is the engine's
    minute recomputation, which re-assesses only what expiring evidence changed. Also what ``resilience
    bench city`` calls for its risk figure.
    """
    svc, ts = _warm_service(n_assets, seed=seed, warm_events=warm_events)
    times: list[float] = []
    for _ in range(repeat):
        ts += timedelta(minutes=1)
        start = time.perf_counter()
        svc.recompute_all(ts, full=full)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _warm_service(n_assets: int, *, seed: int, warm_events: int) -> tuple[RiskService, datetime]:
    t0 = datetime(2025, 7, 1, tzinfo=UTC)
    size_km = BASE_SIZE_KM * math.sqrt(n_assets / BASE_ASSETS)
    assets, districts, sensors = build_city(n_assets, n_assets * 10 // 3, 12, size_km=size_km, seed=seed)
    bus = InMemoryEventBus()
    svc = RiskService(assets=assets, districts=districts, sensors=sensors, bus=bus, subscribe_to=bus, clock=lambda: t0)
    rng = np.random.default_rng(seed + 1)
    open_ids: dict[str, dict[str, object]] = {}
    ts = t0
    for _ in range(warm_events):
        ts += timedelta(seconds=1)
        svc.handle(random_anomaly(rng, sensors, ts, open_ids))
    return svc, ts


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
        svc.recompute_all(ts, full=True)  # every pair: the figure issue 4 set its target on
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
    scaled = "" if args.no_scaled else _scaled_figures(args.seed)
    print(f"full_recompute_ms={statistics.median(full):.1f} incremental_ms={statistics.median(inc):.3f}{scaled}")
    return 0


def _scaled_figures(seed: int) -> str:
    """3k and 30k assets at the same density, measured here and now, so their ratio is comparable."""
    small, large = risk_full_ms(BASE_ASSETS, seed=seed), risk_full_ms(10 * BASE_ASSETS, seed=seed)
    inc_small = risk_full_ms(BASE_ASSETS, seed=seed, full=False)
    inc_large = risk_full_ms(10 * BASE_ASSETS, seed=seed, full=False)
    print(f"same density, every pair: 3k {small:.0f} ms, 30k {large:.0f} ms, {large / small:.1f}x for 10x assets")
    print(f"same density, minute recompute: 3k {inc_small:.0f} ms, 30k {inc_large:.0f} ms")
    return (
        f" risk_full_ms={small:.1f} risk_30k_full_ms={large:.1f}"
        f" risk_recompute_ms={inc_small:.1f} risk_30k_recompute_ms={inc_large:.1f}"
    )


def register(bench_subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = bench_subparsers.add_parser("risk", help="risk spectrum: full recomputation and incremental update times")
    p.add_argument("--assets", type=int, default=3000)
    p.add_argument("--sensors", type=int, default=10000)
    p.add_argument("--districts", type=int, default=12)
    p.add_argument("--repeat", type=int, default=5, help="full recomputations to time")
    p.add_argument("--events", type=int, default=2000, help="single events to time")
    p.add_argument("--warm-events", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-scaled", action="store_true", help="skip the 3k/30k same-density figures")
    p.set_defaults(func=run_bench)
