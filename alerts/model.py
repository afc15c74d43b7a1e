"""In-memory alert model shared by the engine, the pipeline stages, the API and CAP rendering.

An alert is one real problem: its identity is the fingerprint of (scope, hazard) where scope is the asset
(``asset:ID``) or district (``district:ID``) the problem is about. Every signal that feeds the same problem
(several detectors, several sensors, graded breaches and the risk spectrum of one asset, i.e. several rules)
updates the same alert; the contributing rules are recorded in ``evidence["rules"]``. Other scopes (sensor
health ``sensor:ID``, delivery failures) keep the rule in the fingerprint: one alert per sensor and rule.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from resilience.core.domain import Level


class AlertState(str, enum.Enum):
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    CLOSED = "closed"  # resolved and reviewed by the centre: the loop is closed

    @property
    def active(self) -> bool:
        return self in (AlertState.FIRING, AlertState.ACKNOWLEDGED)


class DisposalStep(str, enum.Enum):
    """Steps the responsible unit records, in their natural order."""

    DISPATCH = "dispatch"
    ON_SITE = "on_site"
    DISPOSED = "disposed"
    FEEDBACK = "feedback"


MERGED_SCOPES = ("asset:", "district:")  # one alert per (scope, hazard) whatever rule saw it


def fingerprint(scope: str, hazard: str, rule: str) -> str:
    """Stable identity of a problem; hex so it is safe in URLs, CAP identifiers and idempotency keys."""
    if scope.startswith(MERGED_SCOPES):
        rule = ""
    return hashlib.sha256(f"{scope}\x1f{hazard}\x1f{rule}".encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Signal:
    """One rule's verdict on one event: a source of an alert became active (with a level) or cleared.

    ``source_key`` names the contributing source (an anomaly id, ``risk``, ``health``) so an alert fed
    by several sources clears only when all of them have cleared.
    """

    rule: str
    hazard: str
    scope: str
    source_key: str
    active: bool
    ts: datetime
    level: Level = Level.NONE
    asset_id: str | None = None
    district_id: str | None = None
    sensor_id: str | None = None
    sensor_kind: str | None = None
    source_type: str = "anomaly"  # anomaly | risk | health | delivery
    explanation: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    message: dict[str, Any] | None = None  # the explanation as a code and parameters (resilience.core.messages)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.scope, self.hazard, self.rule)


@dataclass
class Alert:
    """Current state of one alert (mirrors a row of ``alerts``)."""

    fingerprint: str
    rule: str
    hazard: str
    scope: str
    level: Level
    state: AlertState
    fired_at: datetime
    first_fired_at: datetime
    updated_at: datetime
    level_since: datetime
    id: int | None = None
    asset_id: str | None = None
    district_id: str | None = None
    utility_id: str | None = None
    sensor_kind: str | None = None
    source_type: str = "anomaly"
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)  # source_key -> {level, sensor_id, ts}
    peak_level: Level = Level.NONE
    fire_count: int = 1
    explanation: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    action_zh: str = ""
    action_en: str = ""
    cleared_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    silenced: bool = False
    inhibited: bool = False
    parent_fingerprint: str | None = None  # set when grouped under a district-wide alert
    escalation_tier: int = 0
    assigned_unit: str | None = None
    version: int = 1  # bumps on every notifiable change; CAP Update identifiers use it
    row_version: int = 0  # the row's version when read; saving a row changed since then is refused (store)

    @property
    def rules(self) -> list[str]:
        """Every rule that contributed evidence to this alert (the first one is ``rule``)."""
        return list(self.evidence.get("rules") or [self.rule])

    @property
    def sensor_ids(self) -> list[str]:
        return sorted({s["sensor_id"] for s in self.sources.values() if s.get("sensor_id")})

    @property
    def labels(self) -> dict[str, str]:
        """Flat string labels used by routing, inhibition and silence matchers."""
        return {
            "alertname": self.rule,
            "hazard": self.hazard,
            "level": self.level.label,
            "scope": self.scope,
            "asset_id": self.asset_id or "",
            "district_id": self.district_id or "",
            "utility_id": self.utility_id or "",
            "sensor_kind": self.sensor_kind or "",
            "sensor_id": ",".join(self.sensor_ids),
            "source": self.source_type,
        }

    @property
    def condition_active(self) -> bool:
        """Whether the condition behind the alert still holds (some source still active), whatever people did
        with the alert: a resolved alert may still have an active condition, and then it re-opens."""
        return bool(self.sources) and self.cleared_at is None

    @property
    def condition_since(self) -> datetime:
        """When the condition behind the current firing began: the firing itself, or, for an alert re-opened
        because its condition held through a resolution, the firing before it."""
        since = self.evidence.get("condition_since")
        return datetime.fromisoformat(since) if isinstance(since, str) else self.fired_at

    @property
    def muted(self) -> bool:
        return self.silenced or self.inhibited or self.parent_fingerprint is not None


@dataclass(frozen=True)
class Transition:
    """One audit-log entry: what happened to an alert, when, by whom and why."""

    kind: str  # fired | escalated | updated | cleared | acknowledged | resolved | reopened | silenced | ...
    ts: datetime
    actor: str = "system"
    note: str = ""
    from_state: str | None = None
    to_state: str | None = None
    level: Level | None = None
    data: dict[str, Any] = field(default_factory=dict)
