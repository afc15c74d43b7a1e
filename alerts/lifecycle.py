"""Alert lifecycle as pure functions: firing -> acknowledged -> resolved -> closed, re-firing reopens.

Each function takes the current alert and returns the transitions it made (for the audit log), so the
engine, the API and the tests share one set of rules and none of them touches a clock of its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from alerts.actions import first_action
from alerts.config import EscalationPolicy, RulesConfig
from alerts.explain import rules_explanation, system_note
from alerts.model import Alert, AlertState, Signal, Transition
from resilience.core.domain import Level


class LifecycleError(ValueError):
    """A transition that is not allowed from the alert's current state (the API answers 409)."""


def _source_entry(sig: Signal) -> dict[str, object]:
    return {"level": sig.level.label, "sensor_id": sig.sensor_id, "ts": sig.ts.isoformat(), "rule": sig.rule}


def _rule_entry(sig: Signal) -> dict[str, Any]:
    return {
        "level": sig.level.label,
        "source": sig.source_type,
        "explanation": sig.explanation,
        "message": sig.message,
        "ts": sig.ts.isoformat(),
        "evidence": dict(sig.evidence),
    }


def _fold_evidence(alert: Alert, sig: Signal, *, fresh: bool = False) -> None:
    """Record ``sig`` as evidence of the alert: per contributing rule, plus the flat latest values.

    One alert gathers an asset's anomaly, graded-breach and risk evidence for one hazard, so the rules that
    saw it are listed (``rules``, first = the rule that fired it), each with its latest level, explanation and
    evidence (``by_rule``), and the explanation combines them, most severe first.
    """
    old = {} if fresh else alert.evidence
    by_rule = dict(old.get("by_rule") or {})
    by_rule[sig.rule] = _rule_entry(sig)
    rules = [r for r in (old.get("rules") or []) if r in by_rule]
    if sig.rule not in rules:
        rules.append(sig.rule)
    flat = {k: v for k, v in old.items() if k not in ("rules", "by_rule")}
    alert.evidence = {**flat, **sig.evidence, "rules": rules, "by_rule": by_rule}
    text = rules_explanation(alert.evidence, lambda entry: str(entry.get("explanation") or ""))
    if text:
        alert.explanation = text


def new_alert(sig: Signal, *, utility_id: str | None = None, rules: RulesConfig | None = None) -> Alert:
    zh, en = first_action(sig.hazard, sig.level, rules)
    alert = Alert(
        fingerprint=sig.fingerprint,
        rule=sig.rule,
        hazard=sig.hazard,
        scope=sig.scope,
        level=sig.level,
        state=AlertState.FIRING,
        fired_at=sig.ts,
        first_fired_at=sig.ts,
        updated_at=sig.ts,
        level_since=sig.ts,
        asset_id=sig.asset_id,
        district_id=sig.district_id,
        utility_id=utility_id,
        sensor_kind=sig.sensor_kind,
        source_type=sig.source_type,
        sources={sig.source_key: _source_entry(sig)},
        peak_level=sig.level,
        explanation=sig.explanation,
        evidence=dict(sig.evidence),
        action_zh=zh,
        action_en=en,
        assigned_unit=utility_id,
    )
    _fold_evidence(alert, sig, fresh=True)
    return alert


def _set_level(alert: Alert, level: Level, ts: datetime, rules: RulesConfig | None) -> None:
    alert.level = level
    alert.level_since = ts
    alert.peak_level = max(alert.peak_level, level)
    alert.action_zh, alert.action_en = first_action(alert.hazard, level, rules)


def _refire(alert: Alert, ts: datetime, level: Level, rules: RulesConfig | None) -> None:
    """Fire a resolved (or reviewed) alert again: a new firing of the same alert, whose acknowledgement,
    resolution and escalation belong to the last firing, at ``level`` with that level's first action.
    One place for both ways back (a new signal, a condition that outlasted a resolution)."""
    alert.state = AlertState.FIRING
    alert.fire_count += 1
    alert.fired_at = ts
    alert.updated_at = ts
    alert.cleared_at = alert.acknowledged_at = alert.resolved_at = None
    alert.acknowledged_by = alert.resolved_by = None
    alert.escalation_tier = 0
    alert.version += 1
    _set_level(alert, level, ts, rules)


def apply_signal(
    alert: Alert | None, sig: Signal, *, utility_id: str | None = None, rules: RulesConfig | None = None
) -> tuple[Alert | None, list[Transition]]:
    """Fold one signal into the alert it belongs to; returns the (possibly new) alert and its transitions.

    Levels only go up while an alert is active (escalation updates the same alert); they come down only
    through resolution, so a flapping value does not produce a stream of down/up notifications.
    """
    if not sig.active:
        # The condition is followed whatever people did with the alert: a resolved alert keeps its sources until
        # they end, so "resolved while the hazard holds" is visible and re-opens (reopen_if_condition_holds).
        if alert is None or sig.source_key not in alert.sources:
            return alert, []
        del alert.sources[sig.source_key]
        alert.updated_at = sig.ts
        if alert.sources or alert.cleared_at is not None:
            return alert, []
        alert.cleared_at = sig.ts
        said, data = system_note("alertmsg.cleared" if alert.state.active else "alertmsg.cleared_after_resolve")
        return alert, [Transition("cleared", sig.ts, note=said, data=data)]

    if alert is None:
        alert = new_alert(sig, utility_id=utility_id, rules=rules)
        return alert, [
            Transition(
                "fired",
                sig.ts,
                to_state="firing",
                level=sig.level,
                note=sig.explanation,
                data={"evidence": sig.evidence, "message": sig.message},
            )
        ]

    alert.updated_at = sig.ts
    reopening = not alert.state.active
    joined = sig.rule not in alert.rules
    _fold_evidence(alert, sig, fresh=reopening)
    if reopening:
        previous = alert.state
        alert.sources = {sig.source_key: _source_entry(sig)}
        _refire(alert, sig.ts, sig.level, rules)
        return alert, [
            Transition(
                "reopened",
                sig.ts,
                from_state=previous.value,
                to_state="firing",
                level=sig.level,
                note=sig.explanation,
                data={"fire_count": alert.fire_count, "message": sig.message},
            )
        ]

    alert.sources[sig.source_key] = _source_entry(sig)
    transitions: list[Transition] = []
    if joined:  # another rule sees the same problem: same alert, more evidence (audit only, no notification)
        transitions.append(
            Transition(
                "evidence",
                sig.ts,
                level=sig.level,
                note=sig.explanation,
                data={"rule": sig.rule, "evidence": sig.evidence, "message": sig.message},
            )
        )
    if alert.cleared_at is not None:
        alert.cleared_at = None
        said, data = system_note("alertmsg.recurred")
        transitions.append(Transition("recurred", sig.ts, note=said, data=data))
    if sig.level > alert.level:
        old = alert.level
        _set_level(alert, sig.level, sig.ts, rules)
        alert.version += 1
        transitions.append(
            Transition(
                "escalated",
                sig.ts,
                level=sig.level,
                note=sig.explanation,
                data={"from_level": old.label, "to_level": sig.level.label, "message": sig.message},
            )
        )
    return alert, transitions


def auto_resolve(alert: Alert, now: datetime, resolve_after_s: float) -> list[Transition]:
    """Resolve an active alert whose condition has stayed clear for ``resolve_after_s``."""
    if not alert.state.active or alert.cleared_at is None or math.isinf(resolve_after_s):
        return []
    if now - alert.cleared_at < timedelta(seconds=resolve_after_s):
        return []
    said, data = system_note("alertmsg.auto_resolved", seconds=f"{resolve_after_s:.0f}")
    return _resolve(alert, now, "system", said, data)


def _resolve(alert: Alert, now: datetime, by: str, note: str, data: dict[str, Any] | None = None) -> list[Transition]:
    previous = alert.state
    alert.state = AlertState.RESOLVED
    alert.resolved_at = now
    alert.resolved_by = by
    alert.updated_at = now
    alert.version += 1
    return [
        Transition(
            "resolved", now, actor=by, note=note, from_state=previous.value, to_state="resolved", data=data or {}
        )
    ]


def resolve(alert: Alert, *, by: str, note: str, now: datetime, override: bool = False) -> list[Transition]:
    """Manual resolution; a note is required so the audit log says why. While the alert's condition still
    holds, only an explicit ``override`` resolves it (kept in the timeline), and the alert re-opens if the
    condition still holds after the rule's re-open hold: never silence while the hazard is there."""
    if not alert.state.active:
        raise LifecycleError(f"alert is {alert.state.value}, not active")
    if not note.strip():
        raise LifecycleError("a note is required to resolve by hand")
    if alert.condition_active and not override:
        raise LifecycleError(
            f"the alert's condition still holds ({', '.join(sorted(alert.sources))} active): resolve with "
            "override and a reason to close it anyway; it re-opens if the condition still holds"
        )
    if alert.condition_active:
        said, data = system_note("alertmsg.resolved_override", note=note)
        return _resolve(alert, now, by, said, {**data, "override": True, "sources": sorted(alert.sources)})
    return _resolve(alert, now, by, note)


def reopen_if_condition_holds(
    alert: Alert, now: datetime, reopen_after_s: float, rules: RulesConfig | None = None
) -> list[Transition]:
    """Re-open a resolved (or reviewed) alert whose condition has held for ``reopen_after_s`` since it was
    resolved: it fires and notifies again, marked as a re-opening, with the first action of its level."""
    if alert.state.active or not alert.condition_active or alert.resolved_at is None:
        return []
    if now - alert.resolved_at < timedelta(seconds=reopen_after_s):
        return []
    previous = alert.state
    level = max((Level.parse(str(s.get("level") or "blue")) for s in alert.sources.values()), default=alert.level)
    # the condition has held since before this firing: its duration counts from when it began
    since = alert.evidence.get("condition_since") or alert.fired_at.isoformat()
    alert.evidence = {**alert.evidence, "condition_since": since}
    _refire(alert, now, max(level, Level.BLUE), rules)
    said, data = system_note("alertmsg.reopened_active", seconds=f"{reopen_after_s:.0f}")
    return [
        Transition(
            "reopened",
            now,
            from_state=previous.value,
            to_state="firing",
            level=alert.level,
            note=said,
            data={**data, "fire_count": alert.fire_count, "reason": "condition_active"},
        )
    ]


def acknowledge(alert: Alert, *, by: str, note: str, now: datetime) -> list[Transition]:
    if alert.state is not AlertState.FIRING:
        raise LifecycleError(f"alert is {alert.state.value}; only firing alerts can be acknowledged")
    alert.state = AlertState.ACKNOWLEDGED
    alert.acknowledged_at = now
    alert.acknowledged_by = by
    alert.updated_at = now
    return [Transition("acknowledged", now, actor=by, note=note, from_state="firing", to_state="acknowledged")]


def review(alert: Alert, *, by: str, note: str, now: datetime) -> list[Transition]:
    """The centre closes the loop on a resolved alert."""
    if alert.state is not AlertState.RESOLVED:
        raise LifecycleError(f"alert is {alert.state.value}; only resolved alerts can be reviewed")
    alert.state = AlertState.CLOSED
    alert.updated_at = now
    return [Transition("reviewed", now, actor=by, note=note, from_state="resolved", to_state="closed")]


@dataclass(frozen=True)
class EscalationDue:
    policy: str
    tier: int  # index into policy.tiers
    receivers: tuple[str, ...]


def escalation_due(alert: Alert, policies: list[EscalationPolicy], now: datetime) -> EscalationDue | None:
    """The next escalation tier owed by an unacknowledged alert, counted from when it reached its level."""
    if alert.state is not AlertState.FIRING or alert.muted:
        return None
    for policy in policies:
        if not policy.applies(alert.hazard, alert.level):
            continue
        tier = alert.escalation_tier
        if tier >= len(policy.tiers):
            return None
        if now - alert.level_since >= timedelta(seconds=policy.ack_within_s * (tier + 1)):
            return EscalationDue(policy.name, tier, tuple(policy.tiers[tier]))
        return None
    return None
