"""Turn events into signals: which rule fires or clears for which problem, at which level.

Pure: asset facts come from an injected lookup so this is testable without a database. Every matching
rule yields a signal; rules that share a fingerprint scope merge into one alert downstream.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from alerts.config import Rule, RulesConfig
from alerts.explain import msg
from alerts.model import Signal
from resilience.core.domain import Level
from resilience.core.messages import text
from resilience.core.events import (
    AnomalyEvent,
    AnomalyPhase,
    Event,
    PlatformHealthEvent,
    RiskLevelEvent,
    SensorHealthEvent,
)


@dataclass(frozen=True)
class AssetInfo:
    """What alerting needs to know about an asset (a row of ``assets`` plus its utility)."""

    id: str
    name: str = ""
    kind: str = ""
    district_id: str | None = None
    utility_id: str | None = None
    lat: float | None = None
    lon: float | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    name_zh: str | None = None
    name_en: str | None = None

    def names(self) -> tuple[str, str]:
        """(Chinese, English) name: each language's own, else the other's, else the name of record or id."""
        fallback = self.name or self.id
        return self.name_zh or self.name_en or fallback, self.name_en or self.name_zh or fallback


AssetLookup = Callable[[str], AssetInfo | None]


def _no_assets(asset_id: str) -> AssetInfo | None:
    return None


def score_level(score: float, score_levels: dict[str, float]) -> Level:
    """Highest level whose minimum score is reached (Level.NONE when none is)."""
    best = Level.NONE
    for name, minimum in score_levels.items():
        if score >= minimum:
            best = max(best, Level.parse(name))
    return best


def _kind_ok(rule: Rule, sensor_kind: str | None, asset: AssetInfo | None) -> bool:
    if rule.sensor_kinds and sensor_kind not in rule.sensor_kinds:
        return False
    if rule.asset_kinds and (asset is None or asset.kind not in rule.asset_kinds):
        return False
    return True


def _anomaly_signals(rule: Rule, ev: AnomalyEvent, asset: AssetInfo | None) -> list[Signal]:
    if not _kind_ok(rule, ev.sensor_kind, asset):
        return []
    assert rule.hazard is not None
    base: dict[str, Any] = dict(
        rule=rule.name,
        hazard=rule.hazard,
        scope=f"asset:{ev.asset_id}",
        source_key=f"anomaly:{ev.anomaly_id}",
        ts=ev.ts,
        asset_id=ev.asset_id,
        district_id=asset.district_id if asset else None,
        sensor_id=ev.sensor_id,
        sensor_kind=ev.sensor_kind,
        source_type="anomaly",
    )
    if ev.phase is AnomalyPhase.CLOSE:
        return [Signal(active=False, **base)]
    level = max(ev.level, score_level(ev.score, rule.score_levels))
    if level is Level.NONE or level < Level.parse(rule.min_level):
        # Below the rule's floor: if this source was feeding the alert, it no longer is.
        return [Signal(active=False, **base)]
    evidence: dict[str, Any] = {
        "sensor_id": ev.sensor_id,
        "sensor_kind": ev.sensor_kind,
        "detector": ev.detector,
        "value": ev.value,
        "score": round(ev.score, 4),
        "peak_score": round(ev.peak_score, 4),
        "threshold_level": ev.level.label,
        "anomaly_id": ev.anomaly_id,
        "start": ev.start.isoformat(),
    }
    explanation, message = ev.explanation, ev.message
    if asset is not None and asset.kind in rule.raise_level_asset_kinds and level < Level.RED:
        level = Level(level + 1)
        evidence["raised_for_asset_kind"] = asset.kind
        explanation = (explanation + " " if explanation else "") + (
            f"Level raised one step: {ev.sensor_kind} in a {asset.kind} (coupled hazard)."
        )
        message = msg(
            "alertmsg.raised", detail=message or text(ev.explanation), sensor_kind=ev.sensor_kind, kind=asset.kind
        )
    return [Signal(active=True, level=level, explanation=explanation, evidence=evidence, message=message, **base)]


#: Own evidence of an asset in a risk event's factors (its sensors' anomalies and graded breaches).
_OWN_FACTORS = ("graded_breach", "anomaly")


def coupled_cause(factors: list[dict[str, Any]], asset_id: str | None) -> str | None:
    """The neighbouring asset an asset's risk comes from, if it comes from a neighbour at all.

    A risk with no graded breach of its own, whose strongest reason is a coupling from another asset
    (gas next door, a surcharged manhole upstream), is that asset's problem seen from here: the alert
    belongs to the cause, with this asset as a consequence in its evidence, so one problem is one alert.
    """
    if any(f.get("name") == "graded_breach" for f in factors):
        return None
    own = max((float(f.get("weight") or 0.0) for f in factors if f.get("name") in _OWN_FACTORS), default=0.0)
    coupled = [f for f in factors if f.get("name") == "coupling" and f.get("source") and f["source"] != asset_id]
    if not coupled:
        return None
    top = max(coupled, key=lambda f: float(f.get("weight") or 0.0))
    return str(top["source"]) if float(top.get("weight") or 0.0) > own else None


def _risk_signals(rule: Rule, ev: RiskLevelEvent, assets: AssetLookup) -> list[Signal]:
    kind, _, ident = ev.scope.partition(":")
    if kind != rule.scope or (rule.hazard is not None and rule.hazard != ev.hazard):
        return []
    asset_id = ev.asset_id or (ident if kind == "asset" else None)
    asset = assets(asset_id) if asset_id else None
    if rule.asset_kinds and (asset is None or asset.kind not in rule.asset_kinds):
        return []
    district_id = ev.district_id or (ident if kind == "district" else (asset.district_id if asset else None))
    active = ev.level >= Level.parse(rule.min_level)
    evidence = {
        "score": round(ev.score, 4),
        "previous": ev.previous.label,
        "level": ev.level.label,
        "factors": ev.factors[:10],
    }
    common: dict[str, Any] = dict(
        rule=rule.name,
        hazard=ev.hazard,
        active=active,
        ts=ev.ts,
        level=ev.level if active else Level.NONE,
        source_type="risk",
        explanation=ev.explanation,
        message=ev.message,
    )
    coupled_key = f"risk:{ev.scope}"  # this scope's contribution to its cause's alert
    cause = coupled_cause(ev.factors, asset_id) if kind == "asset" else None
    if active and cause is not None:
        cause_asset = assets(cause)
        return [
            Signal(
                scope=f"asset:{cause}",
                source_key=coupled_key,
                asset_id=cause,
                district_id=cause_asset.district_id if cause_asset else district_id,
                evidence={**evidence, "coupled_target": ev.scope},
                **common,
            )
        ]
    out = [
        Signal(
            scope=ev.scope, source_key="risk", asset_id=asset_id, district_id=district_id, evidence=evidence, **common
        )
    ]
    if kind == "asset" and not active:  # if the level was carried by its cause's alert, that contribution ends
        out.append(
            Signal(
                scope=ev.scope,
                source_key=coupled_key,
                asset_id=asset_id,
                district_id=district_id,
                evidence={**evidence, "coupled_target": ev.scope},
                **{**common, "active": False, "level": Level.NONE},
            )
        )
    return out


def _status_signal(
    rule: Rule,
    ev: SensorHealthEvent | PlatformHealthEvent,
    *,
    hazard: str,
    scope: str,
    source: str,
    evidence: dict[str, Any],
    **where: Any,
) -> Signal:
    """A fixed-level rule's verdict on a status event: its level while the status is one the rule names."""
    assert rule.level is not None
    active = ev.status in rule.statuses
    return Signal(
        rule=rule.name,
        hazard=rule.hazard or hazard,
        scope=scope,
        source_key=source,
        active=active,
        ts=ev.ts,
        level=Level.parse(rule.level) if active else Level.NONE,
        source_type=source,
        explanation=ev.explanation,
        message=ev.message,
        evidence=evidence,
        **where,
    )


def _health_signals(rule: Rule, ev: SensorHealthEvent, asset: AssetInfo | None) -> list[Signal]:
    if not _kind_ok(rule, ev.sensor_kind, asset):
        return []
    if ev.status not in rule.statuses and ev.status != "ok":
        return []  # another status (e.g. stuck) is another rule's business
    last_seen = ev.last_seen.isoformat() if ev.last_seen else None
    return [
        _status_signal(
            rule,
            ev,
            hazard="sensor_fault",
            scope=f"sensor:{ev.sensor_id}",
            source="health",
            evidence={"status": ev.status, "last_seen": last_seen},
            asset_id=ev.asset_id,
            district_id=asset.district_id if asset else None,
            sensor_id=ev.sensor_id,
            sensor_kind=ev.sensor_kind,
        )
    ]


def _platform_signals(rule: Rule, ev: PlatformHealthEvent) -> list[Signal]:
    """One alert per stalled worker of the platform, cleared when it makes progress again."""
    evidence = {"worker": ev.worker, "role": ev.role, "status": ev.status}
    return [
        _status_signal(rule, ev, hazard="platform", scope=f"platform:{ev.worker}", source="platform", evidence=evidence)
    ]


def signals_for(event: Event, rules: RulesConfig, assets: AssetLookup = _no_assets) -> list[Signal]:
    """Every rule's verdict on one event."""
    out: list[Signal] = []
    if isinstance(event, AnomalyEvent):
        asset = assets(event.asset_id)
        for rule in rules.rules:
            if rule.event == "anomaly":
                out += _anomaly_signals(rule, event, asset)
    elif isinstance(event, RiskLevelEvent):
        for rule in rules.rules:
            if rule.event == "risk":
                out += _risk_signals(rule, event, assets)
    elif isinstance(event, SensorHealthEvent):
        asset = assets(event.asset_id)
        for rule in rules.rules:
            if rule.event == "health":
                out += _health_signals(rule, event, asset)
    elif isinstance(event, PlatformHealthEvent):
        out += [s for rule in rules.rules if rule.event == "platform" for s in _platform_signals(rule, event)]
    return out
