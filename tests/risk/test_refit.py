"""The risk service follows registry changes without a restart: new assets, removed assets, moved assets."""

from __future__ import annotations

from resilience.core.domain import Level
from resilience.risk.aggregate import CITY, district_scope

from .helpers import DISTRICTS, T0, anomaly, asset, sensor, service


def _tallied(svc, scope: str, hazard: str) -> int:  # type: ignore[no-untyped-def]
    return sum(svc.tally.counts(scope, hazard))


def test_a_new_asset_is_assessed_and_a_removed_one_leaves_the_tallies() -> None:
    a1 = asset("GAS-1", "gas_pipeline")
    svc, bus = service([a1], [sensor("CH4-1", "GAS-1", "methane")])
    hazards = {h for a, h in svc.current if a == "GAS-1"}
    assert hazards
    hazard = next(iter(hazards))

    a2 = asset("GAS-2", "gas_pipeline", district="D2")
    svc.refit(
        assets=[a1, a2],
        districts=DISTRICTS,
        sensors=[sensor("CH4-1", "GAS-1", "methane"), sensor("CH4-2", "GAS-2", "methane")],
        now=T0,
    )
    assert {h for a, h in svc.current if a == "GAS-2"} == hazards
    assert _tallied(svc, district_scope("D2"), hazard) == 1 and _tallied(svc, CITY, hazard) == 2

    # The new asset's evidence counts like any other's: a red methane breach raises its risk.
    svc.handle(anomaly("CH4-2", "GAS-2", "methane", value=60.0, level=Level.RED, score=1.0))
    assert svc.current[("GAS-2", hazard)].level >= Level.ORANGE

    svc.refit(assets=[a2], districts=DISTRICTS, sensors=[sensor("CH4-2", "GAS-2", "methane")], now=T0)
    assert not any(a == "GAS-1" for a, _ in svc.current)
    assert _tallied(svc, district_scope("D1"), hazard) == 0 and _tallied(svc, CITY, hazard) == 1
    assert svc.current[("GAS-2", hazard)].level >= Level.ORANGE  # the evidence was kept


def test_an_asset_moved_to_another_district_is_counted_there_only() -> None:
    a1 = asset("GAS-1", "gas_pipeline")
    svc, _ = service([a1], [sensor("CH4-1", "GAS-1", "methane")])
    hazard = next(h for a, h in svc.current if a == "GAS-1")
    svc.refit(
        assets=[{**a1, "district_id": "D2"}], districts=DISTRICTS, sensors=[sensor("CH4-1", "GAS-1", "methane")], now=T0
    )
    assert _tallied(svc, district_scope("D1"), hazard) == 0
    assert _tallied(svc, district_scope("D2"), hazard) == 1
    assert _tallied(svc, CITY, hazard) == 1
