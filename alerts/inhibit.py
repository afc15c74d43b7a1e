"""Inhibition and grouping: one alert makes others redundant (Alertmanager inhibit/inhibit.go).

An InhibitRule mutes *target* alerts while a *source* alert fires and both carry equal values for the
``equal`` labels. Defaults: a silent sensor mutes anomaly alerts from that sensor (its data is not
trustworthy); a red alert on an asset+hazard mutes the lower ones. An alert never inhibits itself.
GroupRules do not mute: they attach children (drainage alerts) to a parent (district storm warning) so
they notify once, through the parent.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from alerts.config import GroupRule, InhibitRule
from alerts.model import Alert


class Muter(Protocol):
    """Shared by Inhibitor and Silencer so one MuteStage serves both."""

    def mutes(self, labels: dict[str, str]) -> bool: ...


def _values(v: str) -> set[str]:
    return {p for p in v.split(",") if p}


def _equal(target: dict[str, str], sources: list[dict[str, str]], names: list[str]) -> bool:
    """Each ``equal`` label of the target is covered by the sources (set-valued labels compare as sets)."""
    for name in names:
        want = _values(target.get(name, ""))
        have: set[str] = set()
        for s in sources:
            have |= _values(s.get(name, ""))
        if not want or not want <= have:
            return False
    return True


class Inhibitor:
    """Mutes by inhibit rules over a snapshot of the firing alerts."""

    def __init__(self, rules: list[InhibitRule], firing: Iterable[Alert]) -> None:
        self.rules = rules
        self.firing = [a for a in firing if a.state.active]

    def inhibited_by(self, labels: dict[str, str]) -> str | None:
        """Name of the rule that mutes these labels, or None."""
        me = (labels.get("alertname"), labels.get("scope"), labels.get("hazard"))
        for rule in self.rules:
            if not rule.target.matches(labels):
                continue
            candidates = [
                a.labels for a in self.firing
                if rule.source.matches(a.labels)
                and (a.rule, a.scope, a.hazard) != me
                and all(_values(labels.get(n, "")) & _values(a.labels.get(n, "")) for n in rule.equal)
            ]
            if candidates and _equal(labels, candidates, rule.equal):
                return rule.name
        return None

    def mutes(self, labels: dict[str, str]) -> bool: ...


def _values(v: str) -> set[str]:
    return {p for p in v.split(",") if p}


def _equal(target: dict[str, str], sources: list[dict[str, str]], names: list[str]) -> bool:
    """Each ``equal`` label of the target is covered by the sources (set-valued labels compare as sets)."""
    for name in names:
        want = _values(target.get(name, ""))
        have: set[str] = set()
        for s in sources:
            have |= _values(s.get(name, ""))
        if not want or not want <= have:
            return False
    return True


class Inhibitor:
    """Mutes by inhibit rules over a snapshot of the firing alerts."""

    def __init__(self, rules: list[InhibitRule], firing: Iterable[Alert]) -> None:
        self.rules = rules
        self.firing = [a for a in firing if a.state.active]

    def inhibited_by(self, labels: dict[str, str], *, self_scope: tuple[str, str] | None = None) -> str | None:
        """Name of the rule that mutes these labels, or None."""
        for rule in self.rules:
            if not rule.target.matches(labels):
                continue
            sources = [
                a.labels for a in self.firing
                if rule.source.matches(a.labels)
                and (a.scope, a.rule) != self_scope
                and not (a.labels == labels)
            ]
            # Set-valued labels: all sources sharing the scalar equal labels pool their sets.
            candidates = [s for s in sources if _equal(labels, [s], [n for n in rule.equal if n != "sensor_id"])]
            if candidates and _equal(labels, candidates, rule.equal):
                return rule.name
        return None

    def mutes(self, labels: dict[str, str]) -> bool:
        return self.inhibited_by(labels) is not None


def group_parent(alert: Alert, rules: list[GroupRule], firing: Iterable[Alert]) -> str | None:
    """Fingerprint of the firing parent this alert notifies through, or None."""
    labels = alert.labels
    for rule in rules:
        if not rule.child.matches(labels) or rule.parent.matches(labels):
            continue
        for parent in firing:
            if (parent.fingerprint != alert.fingerprint and parent.state.active and rule.parent.matches(parent.labels)
                    and _equal(labels, [parent.labels], rule.equal)):
                return parent.fingerprint
    return None
