"""``resilience bench detect``: streaming cost of what the detector worker runs, per reading and per row.

The per-kind production ensembles are timed through the :class:`~resilience.detection.scoring.DetectionEngine`
(µs per reading); the per-asset multivariate models per scored row: the CVA state model streaming one row
at a time as the worker does (row building included), and the PCA asset model. Each figure is the best of
``--repeats`` runs on fresh state (timeit's rule: on a shared machine the other processes only add time).
"""

from __future__ import annotations

import argparse
import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from resilience.core.domain import Reading

KINDS = ["methane", "water_pressure", "water_flow", "drainage_level", "strain", "tilt"]


class _Sensor:
    def __init__(self, sid: str, kind: str) -> None:
        self.sensor_id, self.asset_id, self.kind = sid, "bench-asset", kind
        self.thresholds: dict[str, float] | None = None
        self.expected_interval_s = 60.0


def ensembles_us_per_reading(n_readings: int) -> float:
    """µs per reading of the default ensembles of ``KINDS`` on a clean daily cycle."""
    from resilience.detection.scoring import DetectionEngine
    from resilience.core.events import InMemoryEventBus

    catalogue = {f"s{i}": _Sensor(f"s{i}", k) for i, k in enumerate(KINDS)}
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    readings = []
    for step in range(n_readings // len(KINDS)):
        ts = t0 + timedelta(minutes=step)
        daily = math.sin(2 * math.pi * step / 1440)
        for i, k in enumerate(KINDS):
            base = {"methane": 1.0, "water_pressure": 0.3, "drainage_level": 40.0}.get(k, 10.0)
            readings.append(Reading(f"s{i}", ts, base * (1 + 0.1 * daily) + 0.001 * ((step * 7 + i) % 11)))
    engine = DetectionEngine(catalogue, InMemoryEventBus())
    start = time.perf_counter()
    engine.process(readings)
    return (time.perf_counter() - start) / len(readings) * 1e6


def _asset_rows(n: int, n_sensors: int, seed: int = 0) -> np.ndarray:
    """Correlated rows with a daily demand cycle (flow up, pressure down), like a water main's sensors."""
    rng = np.random.default_rng(seed)
    demand = 1.0 + 0.4 * np.sin(2 * np.pi * np.arange(n) / 1440) + rng.normal(0, 0.02, n)
    loads = np.linspace(-1.0, 1.0, n_sensors)
    return demand[:, None] * loads[None, :] + rng.normal(0, 0.05, (n, n_sensors))


def state_model_us_per_row(n_rows: int, n_sensors: int) -> float:
    """µs per row of the CVA state model in the worker: one reading per sensor built into a row, then scored."""
    from resilience.detection.asset_state import AssetStateMonitor, dump_state_model, model_version, new_state_model
    from resilience.store.state_models import StoredStateModel

    model = new_state_model(n_sensors).fit(_asset_rows(2880, n_sensors, seed=1))
    ids = [f"s{j}" for j in range(n_sensors)]
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    stored = StoredStateModel("bench-asset", model_version(model), t0, t0, t0, 2880, ids, dump_state_model(model))
    monitor = AssetStateMonitor(stored, model, {s: "water_flow" for s in ids})
    X = _asset_rows(n_rows, n_sensors, seed=2)
    readings = [
        Reading(ids[j], t0 + timedelta(minutes=i), float(X[i, j])) for i in range(n_rows) for j in range(n_sensors)
    ]
    start = time.perf_counter()
    for r in readings:
        monitor.observe(r)
    return (time.perf_counter() - start) / n_rows * 1e6


def pca_model_us_per_row(n_rows: int, n_sensors: int) -> float:
    """µs per row of the PCA asset model (score and per-sensor contributions, as the 5-minute scorer does)."""
    from resilience.detection.multivariate import AssetModel

    model = AssetModel(method="pca", random_state=0).fit(_asset_rows(2880, n_sensors, seed=1))
    X = _asset_rows(n_rows, n_sensors, seed=2)
    start = time.perf_counter()
    for row in X:
        model.anomaly_score(row[None, :])
        model.contributions(row)
    return (time.perf_counter() - start) / n_rows * 1e6


def _best(repeats: int, run: Any, *args: Any) -> float:
    return min(run(*args) for _ in range(max(1, repeats)))


def bench_detect(args: argparse.Namespace) -> int:
    us = _best(args.repeats, ensembles_us_per_reading, args.readings)
    print(
        f"{args.readings} readings over {len(KINDS)} default ensembles ({', '.join(KINDS)}): {us:.1f} us/reading "
        f"(best of {args.repeats})"
    )
    cva = _best(args.repeats, state_model_us_per_row, args.rows, args.sensors)
    pca = _best(args.repeats, pca_model_us_per_row, args.rows, args.sensors)
    print(
        f"{args.rows} rows of a {args.sensors}-sensor asset: CVA state model {cva:.1f} us/row "
        f"({cva / args.sensors:.1f} us per reading), PCA asset model {pca:.1f} us/row"
    )
    print(f"us_per_reading={us:.1f} cva_us_per_row={cva:.1f} pca_us_per_row={pca:.1f}")
    return 0


def register(bench_subparsers: Any) -> None:
    """Add ``bench detect`` to ``resilience bench``."""
    d = bench_subparsers.add_parser(
        "detect", help="per-reading cost of the default ensembles, per-row cost of the per-asset models"
    )
    d.add_argument("--readings", type=int, default=60000)
    d.add_argument("--rows", type=int, default=5000, help="rows scored by each multivariate model")
    d.add_argument("--sensors", type=int, default=3, help="sensors of the modelled asset (a water main: 3)")
    d.add_argument("--repeats", type=int, default=3, help="runs of each measurement; the best is reported")
    d.set_defaults(func=bench_detect)
