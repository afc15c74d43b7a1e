"""One scoring protocol for every number: the live detector, ``resilience detect`` and the benches call this.

:func:`score_readings` is what the detector worker does with a batch of readings: each reading through its
sensor's ensemble (:class:`~resilience.detection.scoring.DetectionEngine`: open threshold, close hysteresis,
graded limits), then the same readings, in the same order, through every modelled asset's state model
(:class:`~resilience.detection.asset_state.StateModelScorer`: one-minute rows, held alarm with its release
dwell). :func:`backtest` runs a recorded series through it and returns the alarm spans the live worker would
have stored, so a CSV backtest and the live detector give the same alarms for the same readings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from resilience.core.domain import Reading
from resilience.core.events import AnomalyEvent, AnomalyPhase, Event, InMemoryEventBus
from resilience.detection.asset_state import AssetStateMonitor, StateModelScorer, model_version
from resilience.detection.ensemble import EnsembleResult
from resilience.detection.scoring import DetectionEngine
from resilience.detection.silent_sensors import SensorInfo
from resilience.detection.state_models import CanonicalVariateStateModel
from resilience.store.state_models import StoredStateModel


def score_readings(
    engine: DetectionEngine, state_models: StateModelScorer, readings: Sequence[Reading]
) -> list[EnsembleResult | None]:
    """Score readings in order; every event goes to ``engine.bus``. Returns each reading's ensemble result
    (None for a sensor the engine does not know) for callers that write a score per reading."""
    results = [engine.process_reading(r)[0] for r in readings]
    for event in state_models.observe(readings):  # as batches arrive, in the order they are consumed
        engine.bus.publish(event)
    return results


@dataclass(frozen=True, slots=True)
class AlarmSpan:
    """One anomaly as the detector stores it: who held it, from when, until when (None: still open)."""

    anomaly_id: str
    asset_id: str
    sensor_id: str
    detector: str
    start: datetime
    end: datetime | None


def alarm_spans(events: Iterable[Event]) -> list[AlarmSpan]:
    """The anomalies of an event stream (open ... close), as ``anomalies`` rows hold them, by start."""
    spans: dict[str, AlarmSpan] = {}
    for e in events:
        if not isinstance(e, AnomalyEvent):
            continue
        cur = spans.get(e.anomaly_id)
        end = (e.end or e.ts) if e.phase is AnomalyPhase.CLOSE else None
        if cur is None:
            spans[e.anomaly_id] = AlarmSpan(e.anomaly_id, e.asset_id, e.sensor_id, e.detector, e.start, end)
        elif end is not None:
            spans[e.anomaly_id] = AlarmSpan(cur.anomaly_id, cur.asset_id, cur.sensor_id, cur.detector, cur.start, end)
    return sorted(spans.values(), key=lambda s: (s.start, s.sensor_id, s.detector))


def state_monitor(
    asset_id: str, model: CanonicalVariateStateModel, sensor_ids: Sequence[str], kinds: Mapping[str, str]
) -> AssetStateMonitor:
    """A monitor for a model fitted here (not stored), under the version production would give that fit."""
    version = model_version(model)
    stored = StoredStateModel(asset_id, version, datetime.min, datetime.min, datetime.min, 0, list(sensor_ids), b"")
    return AssetStateMonitor(stored, model, kinds)


@dataclass
class BacktestResult:
    """Per input row: the highest score and whether any alarm is held after it; and the alarm spans."""

    scores: list[float]
    flags: list[bool]
    spans: list[AlarmSpan]


def backtest(
    catalogue: Mapping[str, SensorInfo],
    monitors: Mapping[str, AssetStateMonitor],
    rows: Iterable[Sequence[Reading]],
) -> BacktestResult:
    """Run recorded rows of readings through :func:`score_readings` as the detector would consume them."""
    bus = InMemoryEventBus()
    engine = DetectionEngine(catalogue, bus)
    scorer = StateModelScorer(dict(monitors))
    scores: list[float] = []
    flags: list[bool] = []
    for readings in rows:
        results = score_readings(engine, scorer, readings)
        best = max((r.score for r in results if r is not None), default=0.0)
        state = max((_state_score(m) for m in scorer.monitors.values()), default=0.0)
        scores.append(min(max(best, state), 1.0))
        flags.append(bool(engine.open) or scorer.open_count() > 0)
    return BacktestResult(scores, flags, alarm_spans(bus.published))


def _state_score(monitor: AssetStateMonitor) -> float:
    """The state model's score after its latest row, as its anomaly events report it."""
    worst = max(monitor.model.last_ratio_, monitor.model.last_raw_ratio_)
    return worst / (1.0 + worst)
