"""Shared builders for alert tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts.model import Alert, Signal
from alerts.lifecycle import new_alert
from resilience.core.domain import Level
from resilience.core.events import AnomalyEvent, AnomalyPhase

T0 = datetime(2024, 7, 20, 8, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def anomaly(
    *,
    phase: AnomalyPhase = AnomalyPhase.OPEN,
    sensor: str = "s1",
    asset: str = "a1",
    kind: str = "methane",
    level: Level = Level.YELLOW,
    score: float = 0.5,
    t: float = 0,
    anomaly_id: str = "an1",
    detector: str = "threshold",
    value: float = 12.0,
) -> AnomalyEvent:
    return AnomalyEvent(
        anomaly_id=anomaly_id,
        phase=phase,
        sensor_id=sensor,
        asset_id=asset,
        sensor_kind=kind,
        detector=detector,
        start=T0,
        ts=at(t),
        score=score,
        peak_score=score,
        value=value,
        level=level,
        explanation=f"{kind} at {value}",
    )


def make_alert(
    *,
    rule: str = "gas_leak",
    hazard: str = "gas_explosion",
    asset: str = "a1",
    level: Level = Level.YELLOW,
    sensor: str | None = "s1",
    source_type: str = "anomaly",
    district: str | None = "d1",
    scope: str | None = None,
    t: float = 0,
) -> Alert:
    sig = Signal(
        rule=rule,
        hazard=hazard,
        scope=scope or f"asset:{asset}",
        source_key=f"k:{sensor}",
        active=True,
        ts=at(t),
        level=level,
        asset_id=asset,
        district_id=district,
        sensor_id=sensor,
        sensor_kind="methane",
        source_type=source_type,
    )
    a = new_alert(sig)
    a.id = abs(hash(a.fingerprint)) % 10_000
    return a
