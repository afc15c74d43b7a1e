"""Inhibition and grouping: one alert makes others redundant (Alertmanager inhibit/inhibit.go).

An InhibitRule mutes *target* alerts while a *source* alert fires and both carry equal values for the
``equal`` labels. Defaults: a silent sensor mutes anomaly alerts from that sensor (its data is not
trustworthy); a red alert on an asset+hazard mutes the lower ones. An alert never inhibits itself.
GroupRules do not mute: they attach children (drainage alerts, the asset alerts of a district-wide
incident) to a parent (district storm warning, district risk alert) so they notify once, through the parent.
District alerts that are not district-wide are held (``held_districts``): muted, and never a parent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Protocol

from alerts.config import GroupRule, InhibitRule, RulesConfig
from alerts.model import Alert
from resilience.core.domain import Level


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
    """Mutes by inhibit rules over a snapshot of the firing alerts.

    Built once per snapshot and asked once per firing alert, so it precomputes what a question needs: each
    alert's labels once, each rule's sources once, indexed by the values of one ``equal`` label. A question
    then looks at the few sources that share that value instead of every firing alert (an alert storm of
    thousands of silent sensors stays linear, not quadratic, per event).
    """

    def __init__(self, rules: list[InhibitRule], firing: Iterable[Alert]) -> None:
        self.rules = rules
        self.firing = [a for a in firing if a.state.active]
        self._index: list[
            tuple[
                str | None,
                dict[str, list[tuple[tuple[str, str], dict[str, str]]]],
                list[tuple[tuple[str, str], dict[str, str]]],
            ]
        ] = []
        labelled = [((a.scope, a.rule), a.labels) for a in self.firing]
        for rule in rules:
            scalar = [n for n in rule.equal if n != "sensor_id"]
            key = scalar[0] if scalar else ("sensor_id" if "sensor_id" in rule.equal else None)
            sources = [(sr, lb) for sr, lb in labelled if rule.source.matches(lb)]
            buckets: dict[str, list[tuple[tuple[str, str], dict[str, str]]]] = {}
            if key is not None:
                for sr, lb in sources:
                    for v in _values(lb.get(key, "")):
                        buckets.setdefault(v, []).append((sr, lb))
            self._index.append((key, buckets, sources))

    def _sources(self, i: int, labels: dict[str, str]) -> list[tuple[tuple[str, str], dict[str, str]]]:
        """Sources of rule ``i`` that can share the ``equal`` labels with ``labels`` (a superset of them)."""
        key, buckets, sources = self._index[i]
        if key is None:
            return sources
        seen: set[int] = set()
        out = []
        for v in _values(labels.get(key, "")):
            for src in buckets.get(v, ()):
                if id(src) not in seen:
                    seen.add(id(src))
                    out.append(src)
        return out

    def inhibited_by(self, labels: dict[str, str], *, self_scope: tuple[str, str] | None = None) -> str | None:
        """Name of the rule that mutes these labels, or None."""
        for i, rule in enumerate(self.rules):
            if not rule.target.matches(labels):
                continue
            sources = [lb for sr, lb in self._sources(i, labels) if sr != self_scope and lb != labels]
            # Set-valued labels: all sources sharing the scalar equal labels pool their sets.
            candidates = [s for s in sources if _equal(labels, [s], [n for n in rule.equal if n != "sensor_id"])]
            if candidates and _equal(labels, candidates, rule.equal):
                return rule.name
        return None

    def mutes(self, labels: dict[str, str]) -> bool:
        return self.inhibited_by(labels) is not None


def group_parent(
    alert: Alert,
    rules: list[GroupRule],
    firing: Iterable[Alert],
    *,
    parents: dict[int, list[tuple[str, dict[str, str]]]] | None = None,
) -> str | None:
    """Fingerprint of the firing parent this alert notifies through, or None.

    ``parents`` (from ``group_parents``) caches, per rule, the firing alerts that can be a parent and their
    labels, for callers that ask for every alert of one snapshot.
    """
    labels = alert.labels
    for i, rule in enumerate(rules):
        if not rule.child.matches(labels) or rule.parent.matches(labels):
            continue
        pool = (
            parents[i]
            if parents is not None
            else [(p.fingerprint, p.labels) for p in firing if p.state.active and rule.parent.matches(p.labels)]
        )
        for fingerprint, plabels in pool:
            if fingerprint != alert.fingerprint and _equal(labels, [plabels], rule.equal):
                return fingerprint
    return None


def group_parents(rules: list[GroupRule], firing: Iterable[Alert]) -> dict[int, list[tuple[str, dict[str, str]]]]:
    """Per group rule, the firing alerts that match its parent side (fingerprint, labels), in order."""
    active = [(a.fingerprint, a.labels) for a in firing if a.state.active]
    return {i: [(fp, lb) for fp, lb in active if rule.parent.matches(lb)] for i, rule in enumerate(rules)}


def held_districts(rules: RulesConfig, firing: Iterable[Alert]) -> dict[str, str]:
    """District alerts that are not (yet) district-wide: fingerprint -> why they are held.

    A district risk rule with ``min_assets`` > 1 notifies only when that many assets of the district are at
    ``min_asset_level`` or above for the hazard (active alerts of any rule whose condition still holds, muted
    or not: the conditions are real), or when its own evidence names a district-wide driver
    (``district_wide_kinds``, e.g. rainfall).
    A held alert is kept and shown but inhibited: it neither notifies nor escalates nor groups asset alerts,
    so a single-asset incident reaches receivers once, through the asset's alert.
    """
    active = [a for a in firing if a.state.active]
    held: dict[str, str] = {}
    for a in active:
        if not a.scope.startswith("district:"):
            continue
        rule = rules.rule(a.rule)
        if rule is None or rule.event != "risk" or rule.min_assets <= 1:
            continue
        floor = Level.parse(rule.min_asset_level)
        # An asset alert whose condition has cleared (waiting out its resolve hold) is no longer at its level.
        at_level = {
            b.asset_id
            for b in active
            if b.scope.startswith("asset:")
            and b.asset_id
            and b.cleared_at is None
            and b.district_id == a.district_id
            and b.hazard == a.hazard
            and b.level >= floor
        }
        if len(at_level) >= rule.min_assets:
            continue
        text = json.dumps(a.evidence, default=str)
        if any(kind in text for kind in rule.district_wide_kinds):
            continue
        held[a.fingerprint] = (
            f"district_not_wide: {len(at_level)} of {rule.min_assets} assets at "
            f"{rule.min_asset_level}+ and no district-wide evidence"
        )
    return held


class HeldOrInhibited:
    """The inhibitor plus held district alerts, as one Muter for the pipeline's MuteStage."""

    def __init__(self, inhibitor: Inhibitor, held: Iterable[Alert]) -> None:
        self.inhibitor = inhibitor
        self.held = {(a.scope, a.hazard) for a in held}

    def mutes(self, labels: dict[str, str]) -> bool:
        return (labels.get("scope"), labels.get("hazard")) in self.held or self.inhibitor.mutes(labels)
