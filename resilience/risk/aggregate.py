"""District and city roll-ups: worst level and the count of assets at each level, per hazard.

Counts are kept incrementally (``LevelTally.move``) so a single event updates its district in O(1);
the richer summaries (max score, worst assets) are built on demand from the current assessments.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from resilience.core.domain import Level
from resilience.risk.factors import Assessment

CITY = "city"


def district_scope(district_id: str | None) -> str:
    return f"district:{district_id or 'unassigned'}"


def asset_scope(asset_id: str) -> str:
    return f"asset:{asset_id}"


class LevelTally:
    """Number of assets at each level for every (district, hazard) and (city, hazard)."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], list[int]] = {}

    def move(self, district_id: str | None, hazard: str, old: Level | None, new: Level | None) -> None:
        for scope in (district_scope(district_id), CITY):
            counts = self._counts.setdefault((scope, hazard), [0] * len(Level))
            if old is not None:
                counts[old] -= 1
            if new is not None:
                counts[new] += 1

    def counts(self, scope: str, hazard: str) -> list[int]:
        return list(self._counts.get((scope, hazard), [0] * len(Level)))

    def worst(self, scope: str, hazard: str) -> Level:
        counts = self._counts.get((scope, hazard))
        if counts:
            for lvl in reversed(Level):
                if counts[lvl] > 0:
                    return lvl
        return Level.NONE

    def scopes(self) -> list[tuple[str, str]]:
        return list(self._counts)


@dataclass(frozen=True)
class ScopeSummary:
    """One hazard in one district (or the city)."""

    scope: str
    hazard: str
    level: Level
    max_score: float
    counts: dict[str, int]
    worst_assets: list[str] = field(default_factory=list)

    @property
    def explanation(self) -> str:
        named = ", ".join(f"{n} {k}" for k, n in self.counts.items() if n and k != "none") or "no assets at risk"
        worst = f"; worst: {', '.join(self.worst_assets)}" if self.worst_assets and self.level > Level.NONE else ""
        return f"{self.hazard} in {self.scope} is {self.level.label.upper()} ({named}){worst}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "hazard": self.hazard,
            "level": self.level.label,
            "max_score": round(self.max_score, 4),
            "counts": self.counts,
            "worst_assets": self.worst_assets,
            "explanation": self.explanation,
        }


def summarise(scope: str, hazard: str, assessments: Iterable[Assessment], top: int = 5) -> ScopeSummary:
    """Worst level, counts per level, max score and the ``top`` riskiest assets of one scope."""
    items = [a for a in assessments if a.hazard == hazard]
    tally = Counter(a.level for a in items)
    counts = {lvl.label: tally.get(lvl, 0) for lvl in Level}
    # the riskiest few without sorting the whole scope: nlargest is sorted(reverse=True)[:top], stable
    riskiest = heapq.nlargest(max(top, 1), items, key=_rank)
    level = riskiest[0].level if riskiest else Level.NONE
    worst = [a.asset_id for a in riskiest[:top] if a.level > Level.NONE]
    return ScopeSummary(scope, hazard, level, riskiest[0].score if riskiest else 0.0, counts, worst)


def _rank(a: Assessment) -> tuple[int, float]:
    return (a.level, a.score)


@dataclass(frozen=True)
class Spectrum:
    """The city risk spectrum: a hazard x district matrix of levels, plus city-wide levels and counts."""

    hazards: list[str]
    districts: list[str]
    levels: list[list[Level]]  # [hazard][district]
    counts: dict[str, dict[str, dict[str, int]]]  # hazard -> scope -> level name -> n
    city: dict[str, Level]

    def level(self, hazard: str, district_id: str) -> Level:
        return self.levels[self.hazards.index(hazard)][self.districts.index(district_id)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "hazards": self.hazards,
            "districts": self.districts,
            "levels": [[lvl.label for lvl in row] for row in self.levels],
            "city": {h: lvl.label for h, lvl in self.city.items()},
            "counts": self.counts,
        }


def build_spectrum(tally: LevelTally, hazards: Sequence[str], districts: Sequence[str]) -> Spectrum:
    names = [lvl.label for lvl in Level]
    levels = [[tally.worst(district_scope(d), h) for d in districts] for h in hazards]
    counts = {
        h: {
            scope: dict(zip(names, tally.counts(scope, h), strict=True))
            for scope in [*(district_scope(d) for d in districts), CITY]
        }
        for h in hazards
    }
    return Spectrum(list(hazards), list(districts), levels, counts, {h: tally.worst(CITY, h) for h in hazards})
