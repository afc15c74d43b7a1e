"""The production detection engine: readings in, anomaly events out.

One :class:`~resilience.detection.ensemble.SensorEnsemble` per sensor scores each reading. The engine
turns scores into anomaly lifecycles (open, update, close) and publishes them as
:class:`~resilience.core.events.AnomalyEvent`. Updates are sent only when the peak score rises by at least
``min_update_step`` or the graded level rises, so a long incident produces a handful of events, not one
per reading. Stuck sensors are reported as :class:`~resilience.core.events.SensorHealthEvent`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from resilience.detection.ensemble import EnsembleConfig, EnsembleResult, SensorEnsemble, resolve_config
from resilience.detection.explain import closing_message, msg, render_en, stored_message
from resilience.detection.silent_sensors import SensorInfo, SilenceTracker
from resilience.core.domain import Level, Reading
from resilience.core.events import AnomalyEvent, AnomalyPhase, EventPublisher, SensorHealthEvent
from resilience.core.messages import Message

SNAPSHOT_VERSION = 1


@dataclass
class OpenAnomaly:
    """An anomaly currently open on one sensor."""

    anomaly_id: str
    start: datetime
    detector: str
    peak_score: float
    peak_level: Level
    peak_value: float
    message: Message | None
    quiet_run: int = 0
    quiet_since: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "anomaly_id": self.anomaly_id,
            "start": self.start.isoformat(),
            "detector": self.detector,
            "peak_score": self.peak_score,
            "peak_level": int(self.peak_level),
            "peak_value": self.peak_value,
            "message": self.message,
            "quiet_run": self.quiet_run,
            "quiet_since": self.quiet_since.isoformat() if self.quiet_since else None,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OpenAnomaly:
        return cls(
            d["anomaly_id"],
            datetime.fromisoformat(d["start"]),
            d["detector"],
            d["peak_score"],
            Level(d["peak_level"]),
            d["peak_value"],
            stored_message(d),
            d["quiet_run"],
            datetime.fromisoformat(d["quiet_since"]) if d["quiet_since"] else None,
        )


ANOMALY_NAMESPACE = uuid.UUID("5f0c1c52-8f43-4d0e-9d55-6b2f1f6a7c10")


def stable_anomaly_id(sensor_id: str, opened_at: datetime) -> str:
    """The same anomaly gets the same id however often its readings are scored (replay after a restart)."""
    return str(uuid.uuid5(ANOMALY_NAMESPACE, f"{sensor_id}|{opened_at.isoformat()}"))


class DetectionEngine:
    """Runs every sensor's ensemble and manages anomaly lifecycles.

    Parameters
    ----------
    catalogue
        ``sensor_id -> object`` with ``sensor_id``, ``asset_id``, ``kind``, ``thresholds`` (dict or None,
        per-sensor graded limits) and ``expected_interval_s``. Readings from other sensors are counted in
        ``unknown_readings`` and ignored.
    bus
        Where AnomalyEvent and SensorHealthEvent are published.
    overrides
        ``sensor_id -> override dict`` (see :func:`~resilience.detection.ensemble.resolve_config`).
    defaults
        Per-kind configurations replacing ``DEFAULT_ENSEMBLES``.
    new_id
        Anomaly id factory (tests inject a counter). By default an id is derived from the sensor and the
        reading that opened the anomaly, so a replay after a crash gives the anomaly the same id.
    min_update_step
        Smallest rise of the peak score that is worth an UPDATE event.
    silence_k
        Silence multiplier for the engine's :class:`SilenceTracker` (``engine.silence``).
    """

    def __init__(
        self,
        catalogue: Mapping[str, SensorInfo],
        bus: EventPublisher,
        *,
        overrides: Mapping[str, dict[str, Any]] | None = None,
        defaults: dict[str, EnsembleConfig] | None = None,
        new_id: Callable[[], str] | None = None,
        min_update_step: float = 0.05,
        silence_k: float = 3.0,
        silence_feed_lag_s: float = 60.0,
    ) -> None:
        self.catalogue = catalogue
        self.bus = bus
        self.overrides = dict(overrides or {})
        self.defaults = defaults
        self.new_id = new_id
        self.min_update_step = min_update_step
        self.silence = SilenceTracker(catalogue, k=silence_k, bus=bus, feed_lag_s=silence_feed_lag_s)
        self.ensembles: dict[str, SensorEnsemble] = {}
        self._configs: dict[tuple[str, tuple[tuple[str, float], ...] | None], EnsembleConfig] = {}
        self.open: dict[str, OpenAnomaly] = {}
        self.stuck: set[str] = set()
        self.unknown_readings = 0
        self.touched: set[str] = set()  # sensors scored since the last snapshot took them (state_parts)

    def ensemble(self, sensor_id: str) -> SensorEnsemble:
        """The sensor's ensemble, built on first use from its kind, thresholds and override."""
        ens = self.ensembles.get(sensor_id)
        if ens is None:
            info = self.catalogue[sensor_id]
            ens = self.ensembles[sensor_id] = SensorEnsemble(self._config(sensor_id, info), kind=info.kind)
        return ens

    def _config(self, sensor_id: str, info: SensorInfo) -> EnsembleConfig:
        """The sensor's configuration; one shared object per kind and thresholds for sensors without an
        override (the config is frozen; resolving it for each of 100k sensors took seconds at a restore)."""
        override = self.overrides.get(sensor_id)
        if override is not None:
            return resolve_config(info.kind, info.thresholds, override, self.defaults)
        key = (info.kind, tuple(sorted(info.thresholds.items())) if info.thresholds is not None else None)
        cfg = self._configs.get(key)
        if cfg is None:
            cfg = self._configs[key] = resolve_config(info.kind, info.thresholds, None, self.defaults)
        return cfg

    def process(self, readings: Iterable[Reading]) -> list[AnomalyEvent]:
        """Score readings in the given order; returns (and publishes) the anomaly events they cause."""
        events: list[AnomalyEvent] = []
        for r in readings:
            event = self.process_reading(r)[1]
            if event is not None:
                events.append(event)
        return events

    def process_reading(self, r: Reading) -> tuple[EnsembleResult | None, AnomalyEvent | None]:
        """Score one reading: its ensemble result (None for an unknown sensor) and the event it caused, if any.

        Backtests use the result to write a score for every row; the engine's lifecycle decides the event.
        """
        info = self.catalogue.get(r.sensor_id)
        if info is None:
            self.unknown_readings += 1
            return None, None
        ens = self.ensembles.get(r.sensor_id) or self.ensemble(r.sensor_id)
        res = ens.process_one(r.value, r.ts, learn=not (r.quality & 2))  # suspect readings are not learned
        self.touched.add(r.sensor_id)
        self.silence.observe(r.sensor_id, r.ts)
        if res.stuck != (r.sensor_id in self.stuck):
            self._health(info, r, res.stuck)
        event = self._lifecycle(info, ens, r, res.score, res.level, res.detector, res.message)
        if event is not None:
            self.bus.publish(event)
        return res, event

    def _health(self, info: SensorInfo, r: Reading, stuck: bool) -> None:
        if stuck:
            self.stuck.add(r.sensor_id)
            ens = self.ensembles[r.sensor_id]
            detail = ens.flatline.describe(r.value, r.ts, ens.unit) if ens.flatline is not None else None
            detail = detail or msg("anomaly.stuck_plain")
        else:
            self.stuck.discard(r.sensor_id)
            detail = msg("anomaly.changing_again")
        message = msg("anomaly.sensor", sensor_kind=info.kind, detail=detail)
        self.bus.publish(
            SensorHealthEvent(
                sensor_id=r.sensor_id,
                asset_id=info.asset_id,
                sensor_kind=info.kind,
                status="stuck" if stuck else "ok",
                ts=r.ts,
                last_seen=r.ts,
                explanation=render_en(message),
                message=message,
            )
        )

    def _lifecycle(
        self,
        info: SensorInfo,
        ens: SensorEnsemble,
        r: Reading,
        score: float,
        level: Level,
        detector: str,
        message: Message | None,
    ) -> AnomalyEvent | None:
        cfg = ens.config
        cur = self.open.get(r.sensor_id)
        anomalous = score >= cfg.threshold or level > Level.NONE
        if cur is None:
            if not anomalous:
                return None
            anomaly_id = self.new_id() if self.new_id is not None else stable_anomaly_id(r.sensor_id, r.ts)
            cur = OpenAnomaly(anomaly_id, r.ts, detector, score, level, r.value, message)
            self.open[r.sensor_id] = cur
            return self._event(AnomalyPhase.OPEN, info, r, cur, score, level)
        if score >= cfg.close_threshold or level > Level.NONE:
            cur.quiet_run, cur.quiet_since = 0, None
            if score >= cur.peak_score + self.min_update_step or level > cur.peak_level:
                cur.peak_score = max(cur.peak_score, score)
                cur.peak_level = max(cur.peak_level, level)
                cur.peak_value, cur.detector = r.value, detector
                cur.message = message or cur.message
                return self._event(AnomalyPhase.UPDATE, info, r, cur, score, level)
            return None
        cur.quiet_run += 1
        if cur.quiet_since is None:
            cur.quiet_since = r.ts
        if cur.quiet_run < cfg.close_after:
            return None
        del self.open[r.sensor_id]
        return self._event(AnomalyPhase.CLOSE, info, r, cur, score, level, end=cur.quiet_since)

    def _event(
        self,
        phase: AnomalyPhase,
        info: SensorInfo,
        r: Reading,
        cur: OpenAnomaly,
        score: float,
        level: Level,
        end: datetime | None = None,
    ) -> AnomalyEvent:
        message = closing_message(cur.message) if phase is AnomalyPhase.CLOSE else cur.message
        return AnomalyEvent(
            anomaly_id=cur.anomaly_id,
            phase=phase,
            sensor_id=r.sensor_id,
            asset_id=info.asset_id,
            sensor_kind=info.kind,
            detector=cur.detector,
            start=cur.start,
            ts=r.ts,
            score=score,
            peak_score=cur.peak_score,
            value=r.value,
            level=cur.peak_level,
            explanation=render_en(message),
            end=end,
            message=message,
        )

    # -- persistence -----------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """JSON-ready state of every sensor ensemble, the open anomalies and the silence tracker."""
        return {**self.snapshot_shared(), "sensors": {sid: ens.to_state() for sid, ens in self.ensembles.items()}}

    def snapshot_shared(self) -> dict[str, Any]:
        """The engine-wide part of :meth:`snapshot`: everything but the sensors' ensembles."""
        return {
            "version": SNAPSHOT_VERSION,
            "open": {sid: a.to_dict() for sid, a in self.open.items()},
            "stuck": sorted(self.stuck),
            "silence": self.silence.to_state(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Load a :meth:`snapshot`; scores afterwards are identical to the engine that took it."""
        self.restore_shared(state)
        for sid, ens_state in state["sensors"].items():
            if sid in self.catalogue:
                self.ensemble(sid).load_state(ens_state)

    def restore_shared(self, state: dict[str, Any]) -> None:
        """Load a :meth:`snapshot_shared` document, dropping every ensemble (the caller loads them next)."""
        if state.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"unsupported detection snapshot version {state.get('version')!r}")
        self.ensembles.clear()
        self.touched.clear()
        self.open = {sid: OpenAnomaly.from_dict(d) for sid, d in state["open"].items() if sid in self.catalogue}
        self.stuck = set(state.get("stuck", []))
        if "silence" in state:
            self.silence.load_state(state["silence"])

    def reset(self) -> None:
        """Forget every sensor's learned state and open anomaly (after a snapshot failed to load)."""
        self.ensembles.clear()
        self.touched.clear()
        self.open.clear()
        self.stuck.clear()
