"""Shared helpers for detection tests: synthetic series and a tiny sensor catalogue."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

T0 = datetime(2024, 3, 4, 0, 0)  # a Monday


@dataclass
class Sensor:
    sensor_id: str
    asset_id: str
    kind: str
    thresholds: dict[str, float] | None = None
    expected_interval_s: float = 60.0
    utility_id: str = ""


def seasonal_series(
    n: int, step_s: float = 600.0, seed: int = 0, noise: float = 0.004
) -> tuple[list[datetime], np.ndarray]:
    """Water pressure with the daily demand cycle: high at night, low at the morning and evening peaks."""
    rng = np.random.default_rng(seed)
    ts = [T0 + timedelta(seconds=i * step_s) for i in range(n)]
    hours = np.array([(t.hour + t.minute / 60) for t in ts])
    demand = (
        1
        + 0.4 * np.exp(-((hours - 7.5) ** 2) / 2)
        + 0.3 * np.exp(-((hours - 19.5) ** 2) / 2)
        - 0.5 * np.exp(-((hours - 3.5) ** 2) / 3)
    )
    values = 0.42 - 0.08 * demand + rng.normal(0, noise, n)
    return ts, values


def sine(n: int, period: float = 100.0) -> np.ndarray:
    return np.array([math.sin(2 * math.pi * i / period) for i in range(n)])


def correlated_process(n: int, seed: int) -> np.ndarray:
    """Six correlated sensors driven by two AR(1) factors (a plant whose readings move together)."""
    rng = np.random.default_rng(seed)
    f = np.zeros((n, 2))
    for t in range(1, n):
        f[t] = np.array([0.9, 0.7]) * f[t - 1] + rng.normal(0, 1, 2)
    loadings = np.array([[1.0, 0.5, -0.8, 0.3, 0.0, 0.6], [0.2, -1.0, 0.4, 0.9, 0.7, 0.0]])
    out: np.ndarray = 10.0 + f @ loadings + rng.normal(0, 0.3, (n, 6))
    return out


def flow_pressure_rows(n: int, seed: int) -> np.ndarray:
    """One-minute rows of a water main's flow and pressure over the daily demand cycle (they move oppositely)."""
    rng = np.random.default_rng(seed)
    demand = 1.0 + 0.3 * np.sin(2 * np.pi * np.arange(n) / 1440) + rng.normal(0, 0.02, n)
    rows: np.ndarray = np.c_[100 * demand + rng.normal(0, 1, n), 0.45 - 0.1 * demand + rng.normal(0, 0.002, n)]
    return rows
