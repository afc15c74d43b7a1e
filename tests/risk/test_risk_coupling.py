"""Each coupling rule: fires within its radius and relation, names its source and distance, and not otherwise."""

from __future__ import annotations

from resilience.core.domain import Level
from resilience.risk.config import RiskConfig
from resilience.risk.coupling import DEFAULT_RULES
from resilience.risk.model import RiskModel

from .helpers import anomaly, asset, east, north, sensor, service

GAS, COLLAPSE, FLOOD = "gas_explosion", "ground_collapse", "waterlogging"


def coupling_factors(risk, rule: str):  # type: ignore[no-untyped-def]
    return [f for f in risk.factors if f.rule == rule]


# -- methane near a culvert or tunnel: one level up there ---------------------------------------------------
def test_methane_near_culvert_raises_explosion_risk_one_level() -> None:
    assets = [
        asset("C1", "drainage_culvert", name="Zhongshan Rd culvert", criticality=5),
        asset("G1", "gas_pipeline", name="Gas main GP-3", lat=north(8), criticality=2),
    ]
    svc, _ = service(assets, [sensor("S1", "G1", "methane")])
    assert svc.asset_risk("C1")[GAS].level == Level.NONE
    svc.handle(anomaly("S1", "G1", "methane", value=12.0, level=Level.YELLOW))
    risk = svc.asset_risk("C1")[GAS]
    # yellow methane evidence at the culvert's consequence (L3 x C4) is yellow; coupling makes it orange
    assert RiskConfig().level_for(3, risk.consequence) == Level.YELLOW
    assert risk.level == Level.ORANGE
    (f,) = coupling_factors(risk, "methane_migration")
    assert f.source == "G1" and 7 < f.distance_m < 9
    assert "Gas main GP-3" in risk.explanation and "8 m away" in risk.explanation and "12 %LEL" in risk.explanation


def test_orange_methane_near_tunnel_makes_it_red() -> None:
    assets = [asset("T1", "utility_tunnel", criticality=4), asset("G1", "gas_pipeline", lat=north(40))]
    svc, _ = service(assets, [sensor("S1", "G1", "methane")])
    svc.handle(anomaly("S1", "G1", "methane", value=22.0, level=Level.ORANGE))
    assert svc.asset_risk("T1")[GAS].level == Level.RED


def test_methane_beyond_radius_or_same_kind_does_not_couple() -> None:
    assets = [
        asset("C1", "drainage_culvert", criticality=5),
        asset("G1", "gas_pipeline", lat=north(60)),
        asset("C2", "drainage_culvert", lat=north(10)),
    ]
    svc, _ = service(assets, [sensor("S1", "G1", "methane"), sensor("S2", "C2", "methane")])
    svc.handle(anomaly("S1", "G1", "methane", value=22.0, level=Level.ORANGE))
    svc.handle(anomaly("S2", "C2", "methane", value=12.0, level=Level.YELLOW))
    risk = svc.asset_risk("C1")[GAS]
    assert risk.level == Level.NONE
    assert not [f for f in risk.factors if f.name == "coupling"]


def test_ungraded_methane_anomaly_does_not_raise_neighbours() -> None:
    assets = [asset("C1", "drainage_culvert", criticality=5), asset("G1", "gas_pipeline", lat=north(8))]
    svc, _ = service(assets, [sensor("S1", "G1", "methane")])
    svc.handle(anomaly("S1", "G1", "methane", value=3.0, score=0.9))
    assert svc.asset_risk("C1")[GAS].level == Level.NONE


def test_gas_main_proximity_bumps_methane_in_culvert() -> None:
    near = [asset("C1", "drainage_culvert", criticality=5), asset("G1", "gas_pipeline", lat=north(30))]
    far = [asset("C1", "drainage_culvert", criticality=5), asset("G1", "gas_pipeline", lat=north(300))]
    levels = []
    for assets in (near, far):
        svc, _ = service(assets, [sensor("S1", "C1", "methane")])
        svc.handle(anomaly("S1", "C1", "methane", value=6.0, level=Level.BLUE))
        levels.append(svc.asset_risk("C1")[GAS])
    assert levels[1].level == Level.BLUE
    assert levels[0].level == Level.YELLOW
    assert coupling_factors(levels[0], "gas_main_proximity")[0].source == "G1"
    assert not coupling_factors(levels[1], "gas_main_proximity")


def test_coupling_disabled_by_empty_rules() -> None:
    assets = [asset("C1", "drainage_culvert", criticality=5), asset("G1", "gas_pipeline", lat=north(8))]
    svc, _ = service(assets, [sensor("S1", "G1", "methane")], model=RiskModel(coupling_rules=()))
    svc.handle(anomaly("S1", "G1", "methane", value=22.0, level=Level.ORANGE))
    assert svc.asset_risk("C1")[GAS].level == Level.NONE
    assert svc.model.graph_.n_edges == 0


# -- water leak -> ground collapse --------------------------------------------------------------------------
def test_water_leak_raises_ground_collapse_nearby_only() -> None:
    assets = [
        asset("W1", "water_main", criticality=4),
        asset("R1", "road", lat=north(40), criticality=5),
        asset("R2", "road", lat=north(500), criticality=5),
        asset("B1", "building", lon=east(60), criticality=5),
    ]
    svc, _ = service(assets, [sensor("N1", "W1", "leak_noise"), sensor("P1", "W1", "water_pressure")])
    before = {a: svc.asset_risk(a)[COLLAPSE].probability for a in ("R1", "R2", "B1")}
    svc.handle(anomaly("N1", "W1", "leak_noise", value=70.0, score=0.9, minutes=60))
    svc.handle(anomaly("P1", "W1", "water_pressure", value=0.13, level=Level.ORANGE, aid="p"))
    after = {a: svc.asset_risk(a)[COLLAPSE] for a in ("R1", "R2", "B1")}
    assert after["R1"].probability > before["R1"] and after["B1"].probability > before["B1"]
    assert after["R2"].probability == before["R2"]
    f = coupling_factors(after["R1"], "leak_undermines_ground")[0]
    assert f.source == "W1" and 35 < f.distance_m < 45 and f.weight > 0
    assert "W1" in after["R1"].explanation
    # closer means stronger
    assert (
        coupling_factors(after["R1"], "leak_undermines_ground")[0].weight
        > coupling_factors(after["B1"], "leak_undermines_ground")[0].weight
    )


def test_leak_plus_local_settlement_is_orange() -> None:
    assets = [asset("W1", "water_main"), asset("R1", "road", lat=north(40), criticality=2, district="D2")]
    svc, _ = service(assets, [sensor("N1", "W1", "leak_noise"), sensor("T1", "R1", "settlement")])
    svc.handle(anomaly("T1", "R1", "settlement", value=5.0, score=0.6))
    assert svc.asset_risk("R1")[COLLAPSE].level < Level.ORANGE
    svc.handle(anomaly("N1", "W1", "leak_noise", value=70.0, score=0.6, aid="n"))
    risk = svc.asset_risk("R1")[COLLAPSE]
    assert risk.level == Level.ORANGE
    assert any(f.name == "coupling_floor" and f.source == "W1" for f in risk.factors)


# -- upstream drainage and rain -> downstream waterlogging -----------------------------------------------------
def _drainage_city() -> tuple[list, list]:  # type: ignore[type-arg]
    assets = [
        asset("UP", "drainage_culvert", lat=north(2000)),
        asset("R1", "road", criticality=4, downstream_of="UP"),
        asset("R2", "road", criticality=4, lon=east(3000)),
        asset("RAIN", "river_section", lon=east(-3000)),
        asset("R3", "road", criticality=4, district="D2", lon=east(-6000)),
    ]
    sensors = [sensor("L1", "UP", "drainage_level"), sensor("G1", "RAIN", "rainfall")]
    return assets, sensors


def test_upstream_drainage_raises_downstream_waterlogging() -> None:
    assets, sensors = _drainage_city()
    svc, _ = service(assets, sensors)
    before = svc.asset_risk("R1")[FLOOD].probability
    svc.handle(anomaly("L1", "UP", "drainage_level", value=105.0, level=Level.ORANGE))
    r1, r2 = svc.asset_risk("R1")[FLOOD], svc.asset_risk("R2")[FLOOD]
    assert r1.probability > before and r2.probability == before
    f = coupling_factors(r1, "upstream_drainage")[0]
    assert f.source == "UP" and 1900 < f.distance_m < 2100
    assert r1.level < Level.YELLOW  # no rain yet: a pre-alert needs the rainstorm too


def test_rainstorm_and_surcharged_upstream_pre_alert_downstream() -> None:
    assets, sensors = _drainage_city()
    svc, _ = service(assets, sensors)
    svc.observe_reading("G1", 40.0, svc.clock())  # 40 mm/h: orange
    r3_before = svc.asset_risk("R3")[FLOOD].probability
    rain_only = svc.asset_risk("R2")[FLOOD]
    assert any(f.name == "driver" and "rainfall" in f.detail for f in rain_only.factors)
    svc.handle(anomaly("L1", "UP", "drainage_level", value=105.0, level=Level.ORANGE))
    r1 = svc.asset_risk("R1")[FLOOD]
    assert r1.level >= Level.YELLOW and r1.probability > rain_only.probability
    assert any(f.name == "coupling_floor" and f.rule == "upstream_drainage" for f in r1.factors)
    assert svc.asset_risk("R3")[FLOOD].probability == r3_before  # rain in D1 says nothing about D2


def test_nearby_drainage_in_same_district_only() -> None:
    assets = [
        asset("C1", "drainage_culvert"),
        asset("R1", "road", lat=north(150), criticality=4),
        asset("R2", "road", lat=north(150), lon=east(10), criticality=4, district="D2"),
    ]
    svc, _ = service(assets, [sensor("L1", "C1", "drainage_level")])
    before = svc.asset_risk("R2")[FLOOD].probability
    svc.handle(anomaly("L1", "C1", "drainage_level", value=90.0, level=Level.YELLOW))
    assert coupling_factors(svc.asset_risk("R1")[FLOOD], "nearby_drainage")[0].source == "C1"
    assert svc.asset_risk("R2")[FLOOD].probability == before


def test_rules_are_data() -> None:
    names = {r.name for r in DEFAULT_RULES}
    assert {
        "methane_migration",
        "gas_main_proximity",
        "leak_undermines_ground",
        "upstream_drainage",
        "nearby_drainage",
    } <= names


def test_gas_main_proximity_raises_the_methane_alarm_level_even_at_low_consequence() -> None:
    # domain.md section 9: CH4 in a culvert within 50 m of a gas main raises the *gas alarm* one level, so a
    # yellow methane reading (e.g. a fast rise) there is orange whatever the culvert's consequence.
    assets = [asset("C1", "drainage_culvert", criticality=1), asset("G1", "gas_pipeline", lat=north(30))]
    svc, _ = service(assets, [sensor("S1", "C1", "methane")], districts=[])
    svc.handle(anomaly("S1", "C1", "methane", value=6.0, level=Level.YELLOW, minutes=0))
    risk = svc.asset_risk("C1")[GAS]
    assert risk.consequence <= 2 and risk.level == Level.ORANGE
    assert coupling_factors(risk, "gas_main_proximity")
