"""The models ``resilience detect`` runs over a CSV, each exactly as production (or the benchmark) runs it.

``production`` (the default) is the live detector's own protocol (:mod:`resilience.detection.protocol`): each
column a sensor of its kind through its ensemble, and the asset's state model on one-minute rows with its held
alarm, fitted as the nightly refit fits it; the others are single models chosen by name.

Every function takes the parsed rows (already checked: numeric value columns, parsed times) and returns one
``(anomaly_score, anomaly)`` pair per row, in row order, computed causally (row i sees rows <= i only; the
multivariate models are fitted first on the normal rows they are given).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from resilience.detection.ensemble import DEFAULT_ENSEMBLES
from resilience.core.domain import SENSOR_KINDS, Reading
from resilience.core.logs import progress

if TYPE_CHECKING:
    from resilience.detection.protocol import BacktestResult

#: Multivariate models fitted on normal rows before scoring (``--train-rows`` / ``--train``).
MULTIVARIATE = ("cva", "pca")


@dataclass(frozen=True, slots=True)
class ModelChoice:
    """A parsed ``--model`` value: ``production``, ``nab``, ``cva``, ``pca`` or ``ensemble:<kind>``."""

    name: str
    kind: str = ""

    @property
    def label(self) -> str:
        return f"{self.name}:{self.kind}" if self.kind else self.name


def parse_model(text: str) -> ModelChoice:
    """Parse ``--model``; an unknown name or sensor kind is refused with the list of valid ones."""
    text = text.strip()
    if text in ("production", "nab", *MULTIVARIATE):
        return ModelChoice(text)
    if text.startswith("ensemble:"):
        kind = text.split(":", 1)[1]
        if kind in DEFAULT_ENSEMBLES:
            return ModelChoice("ensemble", kind)
        raise ValueError(f"unknown sensor kind {kind!r}; kinds: {', '.join(sorted(DEFAULT_ENSEMBLES))}")
    raise ValueError(f"unknown model {text!r}; use production, nab, cva, pca or ensemble:<kind>")


def parse_kinds(specs: Sequence[str], columns: Sequence[str]) -> dict[str, str]:
    """``--kind KIND`` (every column) or ``--kind COLUMN=KIND``; an unknown kind or column is refused."""
    kinds: dict[str, str] = {}
    for spec in specs:
        column, _, kind = spec.rpartition("=")
        if kind not in DEFAULT_ENSEMBLES:
            raise ValueError(f"unknown sensor kind {kind!r}; kinds: {', '.join(sorted(DEFAULT_ENSEMBLES))}")
        if column and column not in columns:
            raise ValueError(f"--kind {spec}: no value column {column!r} (columns: {', '.join(columns)})")
        kinds.update({column: kind} if column else dict.fromkeys(columns, kind))
    return kinds


def _readings(times: Sequence[datetime], data: np.ndarray, columns: Sequence[str]) -> list[list[Reading]]:
    """One list of readings per row, in column order (an empty cell is no reading)."""
    return [
        [Reading(c, ts, float(v)) for c, v in zip(columns, row, strict=False) if not math.isnan(v)]
        for ts, row in zip(times, data, strict=True)
    ]


def score_production(
    times: Sequence[datetime],
    data: np.ndarray,
    columns: Sequence[str],
    kinds: dict[str, str],
    train: tuple[Sequence[datetime], np.ndarray] | None,
) -> BacktestResult:
    """The live detector over the CSV (:func:`~resilience.detection.protocol.backtest`): the columns with a kind
    are sensors of the asset ``csv`` scored by their ensembles; with ``train`` (normal operation), the asset's
    state model is fitted on its one-minute rows exactly as the nightly refit fits it (a window that is too
    short or not one normal state is refused with the reason) and runs beside them."""
    from resilience.detection.asset_models import EXCLUDED_KINDS
    from resilience.detection.asset_state import training_rows
    from resilience.detection.protocol import backtest, state_monitor
    from resilience.detection.state_training import fit_on_rows

    catalogue = {c: _CsvSensor(c, kinds[c]) for c in columns if c in kinds}
    monitors = {}
    if train is not None:
        state_columns = [c for c in columns if kinds.get(c) not in EXCLUDED_KINDS]
        if len(state_columns) < 2:
            raise ValueError("a state model needs two or more columns of continuous kinds")
        history = (r for row in _readings(*train, columns) for r in row)
        X, _ = training_rows(history, state_columns, [], timedelta(0))
        model = fit_on_rows(X)
        monitors["csv"] = state_monitor("csv", model, state_columns, kinds)
    if not catalogue and not monitors:
        raise ValueError(
            "the production model needs --kind (per-sensor detection) and/or --train-rows N or --train FILE "
            "(the state model of two or more columns)"
        )
    return backtest(catalogue, monitors, progress(_readings(times, data, columns), total=len(times), what="detect"))


def score_nab(data: np.ndarray, threshold: float) -> tuple[list[float], list[bool]]:
    """One NAB-tuned detector per column (rows taken as evenly spaced); a row's score is its largest."""
    try:
        from resilience.bench.nab import NabDetector
    except ModuleNotFoundError as exc:  # the production image ships without the benchmarks
        raise ValueError("the nab model is a benchmark tool and is not installed here; run it from a checkout") from exc

    detectors = [NabDetector() for _ in range(data.shape[1])]
    scores: list[float] = []
    for i, row in enumerate(progress(data, total=len(data), what="nab")):
        best = 0.0
        for det, v in zip(detectors, row, strict=False):  # a short row scores what it has
            if not math.isnan(v):
                best = max(best, det.process_one(float(v), float(i)))
        scores.append(best)
    return scores, [s >= threshold for s in scores]


class _CsvSensor:
    """A column posing as a registered sensor of ``kind`` (default limits, the kind's reporting interval)."""

    def __init__(self, sensor_id: str, kind: str) -> None:
        self.sensor_id, self.asset_id, self.kind = sensor_id, "csv", kind
        self.thresholds: dict[str, float] | None = None
        self.expected_interval_s = SENSOR_KINDS[kind].interval_s


def score_ensemble(
    data: np.ndarray,
    times: Sequence[datetime],
    columns: Sequence[str],
    kind: str,
) -> tuple[list[float], list[bool]]:
    """Each column through the production :class:`~resilience.detection.scoring.DetectionEngine` as a sensor of
    ``kind``: the score is the ensemble's, ``anomaly`` is whether the engine holds an anomaly open after the row
    (its open threshold, close hysteresis and graded limits), so the flags are what production would raise."""
    from resilience.detection.scoring import DetectionEngine
    from resilience.core.events import InMemoryEventBus

    catalogue = {c: _CsvSensor(c, kind) for c in columns}
    engine = DetectionEngine(catalogue, InMemoryEventBus())
    scores: list[float] = []
    flags: list[bool] = []
    for ts, row in progress(zip(times, data, strict=True), total=len(times), what=f"ensemble:{kind}"):
        best = 0.0
        for c, v in zip(columns, row, strict=False):  # a short row scores what it has
            if math.isnan(v):
                continue
            result, _ = engine.process_reading(Reading(c, ts, float(v)))
            if result is not None:
                best = max(best, result.score)
        scores.append(min(best, 1.0))
        flags.append(any(c in engine.open for c in columns))
    return scores, flags


def fill_gaps(m: np.ndarray) -> np.ndarray:
    """A missing value holds the column's previous one (no look-ahead); before the first, 0."""
    out = m.copy()
    for j in range(out.shape[1]):
        for i in range(out.shape[0]):
            if math.isnan(out[i, j]):
                out[i, j] = out[i - 1, j] if i else 0.0
    return out


def score_multivariate(model_name: str, data: np.ndarray, train: np.ndarray) -> tuple[list[float], list[bool]]:
    """The per-asset models of production, fitted on ``train`` (normal operation), then every row scored.

    ``cva``: the held-alarm state model (:func:`~resilience.detection.asset_state.new_state_model`), ``anomaly``
    is its alarm, which holds while a fault state lasts. ``pca``: the T²/Q asset model, ``anomaly`` where its
    score reaches the production open threshold.
    """
    data, train = fill_gaps(data), fill_gaps(train)
    if model_name == "cva":
        from resilience.detection.asset_state import new_state_model

        model = new_state_model(data.shape[1]).fit(train)
        ratio = model.ratio(data)
        return [float(r / (1.0 + r)) for r in ratio], [bool(f) for f in model.predict(data)]
    from resilience.detection.asset_models import AssetModelScorer
    from resilience.detection.multivariate import AssetModel

    pca = AssetModel(method="pca", random_state=0).fit(train)
    scores = [float(s) for s in pca.anomaly_score(data)]
    return scores, [s >= AssetModelScorer.threshold for s in scores]
