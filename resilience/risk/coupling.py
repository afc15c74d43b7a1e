"""Coupled hazards: rules as data and the neighbourhood graph they run on.

Section 9 of the domain reference: gas migrates into culverts and tunnels (Qingdao 2013), escaping
water washes soil out under roads (subsidence), and surcharged upstream drainage floods what lies
downstream (Zhengzhou 2021). A ``CouplingRule`` says which source assets, showing which sensor
evidence, raise which hazard at which target assets within what distance, and how:

* ``raise_above_source``: the target is at least ``steps`` levels above the source's evidence level;
* ``bump``: the target's own level goes up ``steps`` (when it shows ``target_evidence`` itself);
* ``likelihood``: the source's evidence strength, decayed with distance, joins the target's likelihood.

A rule may also floor the target level (``floor``) when the source is at ``floor_min_source``, the
target shows ``floor_target_evidence`` and the district rain is at ``floor_min_rain``. Spatial edges
join assets of different kinds only (found with a haversine ``BallTree``); ``downstream`` edges come
from ``attributes.downstream_of`` / ``upstream`` on the target or ``upstream_of`` / ``downstream``
on the source.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from sklearn.neighbors import BallTree

from resilience.core.domain import AssetKind, Hazard, Level
from resilience.risk.registry import AssetInfo

EARTH_RADIUS_M = 6_371_008.8

Effect = Literal["raise_above_source", "bump", "likelihood"]


@dataclass(frozen=True)
class CouplingRule:
    name: str
    title: str
    hazard: str
    source_kinds: frozenset[str]
    target_kinds: frozenset[str]
    effect: Effect
    radius_m: float = 50.0
    relation: Literal["spatial", "downstream"] = "spatial"
    same_district: bool = False
    source_evidence: frozenset[str] = frozenset()  # empty: the source being there is enough
    min_source_level: Level = Level.BLUE  # graded level the source must show (NONE: any anomaly)
    target_evidence: frozenset[str] = frozenset()  # the target must show these itself for the effect
    steps: int = 1
    weight: float = 0.5
    floor: Level = Level.NONE
    floor_min_source: Level = Level.BLUE  # graded level of the source evidence (NONE: any anomaly)
    floor_target_evidence: frozenset[str] = frozenset()
    floor_min_rain: Level = Level.NONE


def _k(*kinds: AssetKind) -> frozenset[str]:
    return frozenset(k.value for k in kinds)


_CONFINED = _k(AssetKind.DRAINAGE_CULVERT, AssetKind.UTILITY_TUNNEL)
_ALL = frozenset(k.value for k in AssetKind)
_WATERLOGGING = _k(AssetKind.DRAINAGE_CULVERT, AssetKind.ROAD, AssetKind.RIVER_SECTION, AssetKind.CRITICAL_FACILITY)

DEFAULT_RULES: tuple[CouplingRule, ...] = (
    CouplingRule(
        "methane_migration",
        "methane can migrate into this confined space",
        Hazard.GAS_EXPLOSION.value,
        source_kinds=_ALL,
        target_kinds=_CONFINED,
        effect="raise_above_source",
        radius_m=50.0,
        source_evidence=frozenset({"methane"}),
        steps=1,
    ),
    CouplingRule(
        "gas_main_proximity",
        "methane here lies near a gas main, so it is likely leak gas",
        Hazard.GAS_EXPLOSION.value,
        source_kinds=_k(AssetKind.GAS_PIPELINE),
        target_kinds=_CONFINED,
        effect="bump",
        radius_m=50.0,
        min_source_level=Level.NONE,
        target_evidence=frozenset({"methane"}),
        steps=1,
    ),
    CouplingRule(
        "leak_undermines_ground",
        "escaping water can wash soil out from under this asset",
        Hazard.GROUND_COLLAPSE.value,
        source_kinds=_k(AssetKind.WATER_MAIN),
        target_kinds=_k(AssetKind.ROAD, AssetKind.BUILDING),
        effect="likelihood",
        radius_m=100.0,
        source_evidence=frozenset({"water_pressure", "water_flow", "leak_noise"}),
        min_source_level=Level.NONE,
        weight=0.6,
        floor=Level.ORANGE,
        floor_min_source=Level.NONE,
        floor_target_evidence=frozenset({"settlement"}),
    ),
    CouplingRule(
        "upstream_drainage",
        "upstream drainage is filling",
        Hazard.WATERLOGGING.value,
        source_kinds=_k(AssetKind.DRAINAGE_CULVERT, AssetKind.RIVER_SECTION),
        target_kinds=_WATERLOGGING,
        effect="likelihood",
        relation="downstream",
        source_evidence=frozenset({"drainage_level", "river_level"}),
        min_source_level=Level.NONE,
        weight=0.6,
        floor=Level.YELLOW,
        floor_min_source=Level.ORANGE,
        floor_min_rain=Level.ORANGE,
    ),
    CouplingRule(
        "nearby_drainage",
        "nearby drainage in the same district is filling",
        Hazard.WATERLOGGING.value,
        source_kinds=_k(AssetKind.DRAINAGE_CULVERT),
        target_kinds=_k(AssetKind.ROAD, AssetKind.CRITICAL_FACILITY),
        effect="likelihood",
        radius_m=300.0,
        same_district=True,
        source_evidence=frozenset({"drainage_level"}),
        min_source_level=Level.NONE,
        weight=0.4,
        floor=Level.YELLOW,
        floor_min_source=Level.ORANGE,
        floor_min_rain=Level.ORANGE,
    ),
)


@dataclass(frozen=True, slots=True)
class InEdge:
    """One coupling into a target: the rule, the source asset and how far away it is."""

    rule: CouplingRule
    source: str
    distance_m: float


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _ids(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable):
        return [str(v) for v in value]
    return [str(value)]


def neighbours_within(
    assets: Sequence[AssetInfo], queries: Sequence[AssetInfo], radius_m: float
) -> list[list[tuple[int, float]]]:
    """For each query asset, (index into ``assets``, distance m) of assets within ``radius_m``."""
    if not assets or not queries:
        return [[] for _ in queries]
    tree = BallTree(np.radians([[a.lat, a.lon] for a in assets]), metric="haversine")
    ind, dist = tree.query_radius(
        np.radians([[q.lat, q.lon] for q in queries]), r=radius_m / EARTH_RADIUS_M, return_distance=True
    )
    return [
        [(int(i), float(d) * EARTH_RADIUS_M) for i, d in zip(idx, dd, strict=True)]
        for idx, dd in zip(ind, dist, strict=True)
    ]


class CouplingGraph:
    """Incoming coupling edges per (target, hazard) and, reversed, who depends on each source."""

    def __init__(self) -> None:
        self.incoming: dict[tuple[str, str], list[InEdge]] = {}
        self.dependents: dict[str, set[tuple[str, str]]] = {}
        self._seen: set[tuple[str, str, str]] = set()  # (rule, source, target): O(1) de-duplication

    def add(self, rule: CouplingRule, source: str, target: str, distance_m: float) -> None:
        seen = (rule.name, source, target)  # one rule has one hazard, so this names the edge
        if seen in self._seen:
            return
        self._seen.add(seen)
        key = (target, rule.hazard)
        self.incoming.setdefault(key, []).append(InEdge(rule, source, distance_m))
        self.dependents.setdefault(source, set()).add(key)

    @property
    def n_edges(self) -> int:
        return len(self._seen)


def build_graph(
    assets: Mapping[str, AssetInfo], rules: Sequence[CouplingRule], applicable: Mapping[str, tuple[str, ...]]
) -> CouplingGraph:
    """Edges for every rule, only into targets the rule's hazard applies to."""
    graph = CouplingGraph()
    for rule in rules:
        targets = [
            a for a in assets.values() if a.kind in rule.target_kinds and rule.hazard in applicable.get(a.kind, ())
        ]
        if rule.relation == "downstream":
            _downstream_edges(graph, rule, assets, targets)
            continue
        sources = [a for a in assets.values() if a.kind in rule.source_kinds]
        for target, found in zip(targets, neighbours_within(sources, targets, rule.radius_m), strict=True):
            for idx, dist in found:
                src = sources[idx]
                if src.kind == target.kind:  # spatial coupling joins different kinds of asset
                    continue
                if rule.same_district and src.district_id != target.district_id:
                    continue
                graph.add(rule, src.id, target.id, dist)
    return graph


def _downstream_edges(
    graph: CouplingGraph, rule: CouplingRule, assets: Mapping[str, AssetInfo], targets: Sequence[AssetInfo]
) -> None:
    target_ids = {t.id for t in targets}
    pairs: list[tuple[str, str]] = []
    for t in targets:
        for key in ("downstream_of", "upstream"):
            pairs.extend((s, t.id) for s in _ids(t.attributes.get(key)))
    for s in assets.values():
        if s.kind in rule.source_kinds:
            for key in ("upstream_of", "downstream"):
                pairs.extend((s.id, t) for t in _ids(s.attributes.get(key)) if t in target_ids)
    for source_id, target_id in pairs:
        src, tgt = assets.get(source_id), assets.get(target_id)
        if src is None or tgt is None or src.id == tgt.id or src.kind not in rule.source_kinds:
            continue
        graph.add(rule, src.id, tgt.id, haversine_m(src.lat, src.lon, tgt.lat, tgt.lon))
