"""Live evidence the risk model reads: open anomalies, sensor health and latest driver values.

State is plain dictionaries keyed by sensor, updated one event at a time, so an incremental update
touches only the sensor that changed. A silent or stuck sensor keeps its open anomalies: losing the
signal must never make a place look safer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from resilience.core.domain import Level
from resilience.core.events import AnomalyEvent, AnomalyPhase, SensorHealthEvent

HEALTHY = "ok"


@dataclass(frozen=True, slots=True)
class AnomalyEvidence:
    """The latest state of one open anomaly on one sensor."""

    anomaly_id: str
    detector: str
    score: float
    level: Level
    start: datetime
    ts: datetime
    value: float
    explanation: str = ""

    @property
    def duration_s(self) -> float:
        return max(0.0, (self.ts - self.start).total_seconds())


@dataclass(frozen=True, slots=True)
class HealthState:
    status: str
    since: datetime
    explanation: str = ""


class EvidenceStore:
    """Open anomalies, unhealthy sensors and latest values (for drivers such as rainfall)."""

    def __init__(self) -> None:
        self.anomalies: dict[str, dict[str, AnomalyEvidence]] = {}
        self.health: dict[str, HealthState] = {}  # only sensors that are not healthy
        self.latest: dict[str, tuple[float, datetime]] = {}
        self.version = 0  # bumped on every change, so readers can cache derived values

    def apply_anomaly(self, event: AnomalyEvent) -> None:
        self.version += 1
        self._observe(event.sensor_id, event.value, event.ts)
        open_ = self.anomalies.setdefault(event.sensor_id, {})
        if event.phase is AnomalyPhase.CLOSE:
            open_.pop(event.anomaly_id, None)
            if not open_:
                del self.anomalies[event.sensor_id]
            return
        open_[event.anomaly_id] = AnomalyEvidence(
            anomaly_id=event.anomaly_id,
            detector=event.detector,
            score=float(event.score),
            level=Level.parse(event.level),
            start=event.start,
            ts=event.ts,
            value=float(event.value),
            explanation=event.explanation,
        )

    def apply_health(self, event: SensorHealthEvent) -> None:
        self.version += 1
        if event.status == HEALTHY:
            self.health.pop(event.sensor_id, None)
        else:
            self.health[event.sensor_id] = HealthState(event.status, event.last_seen or event.ts, event.explanation)

    def observe(self, sensor_id: str, value: float, ts: datetime) -> None:
        """A plain reading (used for external drivers like rainfall intensity)."""
        self._observe(sensor_id, value, ts)

    def _observe(self, sensor_id: str, value: float, ts: datetime) -> None:
        prev = self.latest.get(sensor_id)
        if prev is None or ts >= prev[1]:
            self.latest[sensor_id] = (float(value), ts)
            self.version += 1

    def open_anomalies(self, sensor_id: str) -> list[AnomalyEvidence]:
        found = self.anomalies.get(sensor_id)
        return list(found.values()) if found else []

    def status(self, sensor_id: str) -> str:
        state = self.health.get(sensor_id)
        return state.status if state else HEALTHY

    def expire(self, now: datetime, ttl_s: float) -> set[str]:
        """Drop anomalies not updated within ``ttl_s`` on healthy sensors; returns the sensors touched."""
        cutoff = now - timedelta(seconds=ttl_s)
        touched: set[str] = set()
        for sensor_id in list(self.anomalies):
            if sensor_id in self.health:
                continue  # silent sensors keep their evidence
            open_ = self.anomalies[sensor_id]
            stale = [k for k, a in open_.items() if a.ts < cutoff]
            for k in stale:
                del open_[k]
            if stale:
                touched.add(sensor_id)
                self.version += 1
            if not open_:
                del self.anomalies[sensor_id]
        return touched
