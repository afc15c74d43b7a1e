"""Issue 23, risk that grows linearly: the fast paths give exactly what the plain ones gave.

The references here are the plain algorithms written out (all-pairs distances, a full sort), run on a
seeded random city, against the spatial index and partial selection the service uses.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import numpy as np

from resilience.bench.synthetic_city import build_city, random_anomaly
from resilience.core.domain import Level
from resilience.core.events import InMemoryEventBus
from resilience.risk.aggregate import ScopeSummary, summarise
from resilience.risk.coupling import DEFAULT_RULES, CouplingGraph, _downstream_edges, build_graph, haversine_m
from resilience.risk.factors import Assessment, reasons
from resilience.risk.hazards import DEFAULT_HAZARDS, hazards_by_asset_kind
from resilience.risk.registry import load_assets
from resilience.risk.service import RiskService

T0 = datetime(2025, 7, 1, tzinfo=UTC)


def _dense_city(seed: int) -> RiskService:
    """A small, dense city (many coupling edges) with live evidence on it."""
    assets, districts, sensors = build_city(400, 1300, 4, size_km=1.0, seed=seed)
    bus = InMemoryEventBus()
    svc = RiskService(assets=assets, districts=districts, sensors=sensors, bus=bus, subscribe_to=bus, clock=lambda: T0)
    rng = np.random.default_rng(seed + 1)
    open_ids: dict[str, dict[str, object]] = {}
    for i in range(300):
        svc.handle(random_anomaly(rng, sensors, T0 + timedelta(seconds=i), open_ids))
    return svc


def _all_pairs_edges(seed: int) -> dict[tuple[str, str, str], float]:
    """(rule, source, target) -> distance, by measuring every pair of assets (the quadratic reference)."""
    assets = load_assets(build_city(400, 1300, 4, size_km=1.0, seed=seed)[0])
    by_kind = hazards_by_asset_kind(DEFAULT_HAZARDS)
    edges: dict[tuple[str, str, str], float] = {}
    for rule in DEFAULT_RULES:
        targets = [a for a in assets.values() if a.kind in rule.target_kinds and rule.hazard in by_kind.get(a.kind, ())]
        if rule.relation == "downstream":
            g = CouplingGraph()
            _downstream_edges(g, rule, assets, targets)
            edges.update({(rule.name, e.source, t): e.distance_m for (t, _), es in g.incoming.items() for e in es})
            continue
        for t in targets:
            for s in assets.values():
                if s.kind not in rule.source_kinds or s.kind == t.kind:
                    continue
                if rule.same_district and s.district_id != t.district_id:
                    continue
                d = haversine_m(s.lat, s.lon, t.lat, t.lon)
                if d <= rule.radius_m:
                    edges[(rule.name, s.id, t.id)] = d
    return edges


def test_spatial_index_edges_equal_all_pairs_edges() -> None:
    for seed in (0, 1):
        expected = _all_pairs_edges(seed)
        assets = load_assets(build_city(400, 1300, 4, size_km=1.0, seed=seed)[0])
        graph = build_graph(assets, DEFAULT_RULES, hazards_by_asset_kind(DEFAULT_HAZARDS))
        got = {(e.rule.name, e.source, t): e.distance_m for (t, _), es in graph.incoming.items() for e in es}
        assert len(expected) > 500  # dense enough that every rule is exercised
        assert {r for r, _, _ in expected} == {r.name for r in DEFAULT_RULES}
        assert got.keys() == expected.keys()
        assert graph.n_edges == len(expected)
        assert max(abs(got[k] - expected[k]) for k in expected) < 1e-6
        hazard_of = {r.name: r.hazard for r in DEFAULT_RULES}
        dependents: dict[str, set[tuple[str, str]]] = {}
        for name, source, target in expected:  # the reverse index names exactly the edges' targets
            dependents.setdefault(source, set()).add((target, hazard_of[name]))
        assert graph.dependents == dependents


def _sorted_summary(scope: str, hazard: str, items: list[Assessment], top: int = 5) -> ScopeSummary:
    """The summary as it was made before issue 23: count, then sort the whole scope."""
    items = [a for a in items if a.hazard == hazard]
    counts = {lvl.label: 0 for lvl in Level}
    for a in items:
        counts[a.level.label] += 1
    items.sort(key=lambda a: (-a.level, -a.score))
    level = items[0].level if items else Level.NONE
    worst = [a.asset_id for a in items[:top] if a.level > Level.NONE]
    return ScopeSummary(scope, hazard, level, items[0].score if items else 0.0, counts, worst)


def test_partial_selection_summary_equals_full_sort() -> None:
    svc = _dense_city(2)
    items = list(svc.current.values())
    assert any(a.level > Level.NONE for a in items)
    # ties in (level, score) must keep registry order, as the stable sort did
    tied = [dataclasses.replace(a, level=Level.ORANGE, score=0.7) for a in items[::7]]
    for pool in (items, tied + items, tied, []):
        for hazard in svc.model.hazards_:
            for top in (0, 1, 5, 40):
                assert summarise("city", hazard, pool, top) == _sorted_summary("city", hazard, pool, top)


def _eager_explanation(svc: RiskService, a: Assessment) -> str:
    """The explanation as the model rendered it on every assessment before issue 23."""
    asset, spec = svc.model.assets_[a.asset_id], svc.model.hazards_[a.hazard]
    head = (
        f"{spec.title} risk at {asset.name} ({asset.kind}) is {a.level.label.upper()} "
        f"(likelihood {a.likelihood}/5, consequence {a.consequence}/5)"
    )
    said = [f.detail for f in reasons(a.level, a.factors)]
    return head + (": " + "; ".join(said) if said else "") + "."


def test_lazy_explanation_equals_eager_text_and_change_detection() -> None:
    svc = _dense_city(3)
    before = dict(svc.current)
    assert sum(a.level > Level.NONE for a in before.values()) > 10
    for a in before.values():
        assert a.explanation == _eager_explanation(svc, a)
    # more evidence, then expiry: some explanations change, most do not; says_as tells which, exactly
    rng = np.random.default_rng(9)
    sensors = [{"id": s.id, "asset_id": s.asset_id, "kind": s.kind} for s in svc.model.sensors_.values()]
    for i in range(200):
        svc.handle(random_anomaly(rng, sensors, T0 + timedelta(minutes=5, seconds=i), {}))
    svc.recompute_all(T0 + timedelta(hours=3))
    changed = 0
    for pair, new in svc.current.items():
        old = before[pair]
        fresh = dataclasses.replace(old)  # nothing rendered yet on this copy
        assert new.says_as(fresh) == (_eager_explanation(svc, new) == _eager_explanation(svc, old))
        changed += _eager_explanation(svc, new) != _eager_explanation(svc, old)
    assert 0 < changed < len(before)
