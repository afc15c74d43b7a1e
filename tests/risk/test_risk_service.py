"""Level-change events, aggregation, incremental vs full recomputation, flushing, and the bench command."""

from __future__ import annotations

import argparse
from datetime import timedelta

from resilience.core.domain import Level
from resilience.core.events import AnomalyPhase, EventKind, RiskLevelEvent
from resilience.bench.risk_bench import register, risk_full_ms
from resilience.risk.repository import InMemoryRiskRepository
from resilience.risk.service import crosses_alarm

from .helpers import T0, anomaly, asset, east, north, sensor, service

GAS = "gas_explosion"


def risk_events(bus) -> list[RiskLevelEvent]:  # type: ignore[no-untyped-def]
    return [e for e in bus.published if e.kind is EventKind.RISK_LEVEL]


def test_crosses_alarm_rule() -> None:
    assert crosses_alarm(Level.YELLOW, Level.ORANGE) and crosses_alarm(Level.ORANGE, Level.RED)
    assert crosses_alarm(Level.RED, Level.ORANGE) and crosses_alarm(Level.ORANGE, Level.NONE)
    assert not crosses_alarm(Level.BLUE, Level.YELLOW) and not crosses_alarm(Level.YELLOW, Level.NONE)
    assert not crosses_alarm(Level.ORANGE, Level.ORANGE)


def test_events_on_entering_and_leaving_orange_red_only() -> None:
    svc, bus = service([asset("G1", "gas_pipeline", criticality=5)], [sensor("S1", "G1", "methane")])
    assert risk_events(bus) == []  # start-up publishes nothing

    svc.handle(anomaly("S1", "G1", "methane", value=12.0, level=Level.YELLOW))  # none -> yellow
    assert risk_events(bus) == []

    out = svc.handle(
        anomaly("S1", "G1", "methane", value=22.0, level=Level.ORANGE, phase=AnomalyPhase.UPDATE, minutes=15)
    )  # yellow -> orange
    assert [(e.scope, e.previous, e.level) for e in out] == [
        ("asset:G1", Level.YELLOW, Level.ORANGE),
        ("district:D1", Level.YELLOW, Level.ORANGE),
    ]
    assert out == risk_events(bus)
    asset_event = out[0]
    assert asset_event.asset_id == "G1" and asset_event.district_id == "D1" and asset_event.hazard == GAS
    assert "methane" in asset_event.explanation and asset_event.factors
    assert out[1].factors[0]["counts"]["orange"] == 1

    n = len(bus.published)
    svc.handle(
        anomaly("S1", "G1", "methane", value=23.0, level=Level.ORANGE, phase=AnomalyPhase.UPDATE, minutes=20)
    )  # still orange
    assert len(bus.published) == n

    out = svc.handle(anomaly("S1", "G1", "methane", value=60.0, level=Level.RED, phase=AnomalyPhase.UPDATE, minutes=25))
    assert [(e.scope, e.level) for e in out] == [("asset:G1", Level.RED), ("district:D1", Level.RED)]

    out = svc.handle(anomaly("S1", "G1", "methane", value=1.0, phase=AnomalyPhase.CLOSE, minutes=30))
    assert [(e.scope, e.previous, e.level) for e in out] == [
        ("asset:G1", Level.RED, Level.NONE),
        ("district:D1", Level.RED, Level.NONE),
    ]


def test_district_event_only_when_district_level_changes() -> None:
    assets = [asset("G1", "gas_pipeline", criticality=5), asset("G2", "gas_pipeline", criticality=5, lon=east(500))]
    svc, bus = service(assets, [sensor("S1", "G1", "methane"), sensor("S2", "G2", "methane")])
    svc.handle(anomaly("S1", "G1", "methane", value=22.0, level=Level.ORANGE))
    out = svc.handle(anomaly("S2", "G2", "methane", value=22.0, level=Level.ORANGE))
    assert [e.scope for e in out] == ["asset:G2"]  # the district was orange already
    out = svc.handle(anomaly("S1", "G1", "methane", value=0.0, phase=AnomalyPhase.CLOSE))
    assert [e.scope for e in out] == ["asset:G1"]  # G2 keeps the district orange


def test_aggregation_counts_and_spectrum() -> None:
    assets = [
        asset("G1", "gas_pipeline", criticality=5),
        asset("G2", "gas_pipeline", criticality=5, lon=east(500)),
        asset("G3", "gas_pipeline", criticality=5, lon=east(1000)),
        asset("G4", "gas_pipeline", district="D2", lon=east(3000)),
        asset("W1", "water_main", district="D2", lon=east(4000)),
    ]
    sensors = [sensor(f"S{i}", f"G{i}", "methane") for i in range(1, 5)]
    svc, _ = service(assets, sensors)
    svc.handle(anomaly("S1", "G1", "methane", value=22.0, level=Level.ORANGE))
    svc.handle(anomaly("S2", "G2", "methane", value=60.0, level=Level.RED))
    svc.handle(anomaly("S3", "G3", "methane", value=12.0, level=Level.YELLOW))
    d1 = svc.district_summary("D1")[GAS]
    assert d1.level == Level.RED
    assert d1.counts == {"none": 0, "blue": 0, "yellow": 1, "orange": 1, "red": 1}
    assert d1.worst_assets[:2] == ["G2", "G1"]
    assert "1 red" in d1.explanation
    assert svc.district_summary("D2")[GAS].counts["none"] == 1
    city = svc.city_summary(GAS)[GAS]
    assert city.level == Level.RED and city.counts["none"] == 1 and sum(city.counts.values()) == 4
    spec = svc.spectrum()
    assert spec.level(GAS, "D1") == Level.RED and spec.level(GAS, "D2") == Level.NONE
    assert spec.level("water_main_burst", "D2") == Level.NONE
    assert spec.city[GAS] == Level.RED
    assert spec.counts[GAS]["district:D1"]["red"] == 1 and spec.counts["water_main_burst"]["city"]["none"] == 1
    assert spec.to_dict()["levels"][spec.hazards.index(GAS)] == ["red", "none"]


def test_incremental_matches_full_recomputation() -> None:
    assets = [
        asset("C1", "drainage_culvert", criticality=5),
        asset("G1", "gas_pipeline", lat=north(20)),
        asset("W1", "water_main", lon=east(200)),
        asset("R1", "road", lon=east(250), criticality=5),
    ]
    sensors = [sensor("S1", "G1", "methane"), sensor("N1", "W1", "leak_noise"), sensor("T1", "R1", "settlement")]
    svc, _ = service(assets, sensors)
    svc.handle(anomaly("S1", "G1", "methane", value=22.0, level=Level.ORANGE))
    svc.handle(anomaly("N1", "W1", "leak_noise", value=70.0, score=0.8))
    svc.handle(anomaly("T1", "R1", "settlement", value=4.0, score=0.5))
    incremental = {k: (a.level, round(a.score, 6)) for k, a in svc.current.items()}
    svc.recompute_all(T0 + timedelta(minutes=10))
    assert {k: (a.level, round(a.score, 6)) for k, a in svc.current.items()} == incremental


def test_unregistered_sensor_on_known_asset_is_learned() -> None:
    svc, _ = service([asset("G1", "gas_pipeline", criticality=5)], [])
    svc.handle(anomaly("NEW", "G1", "methane", value=22.0, level=Level.ORANGE))
    assert svc.asset_risk("G1")[GAS].level == Level.ORANGE
    assert svc.handle(anomaly("X", "UNKNOWN", "methane", value=22.0, level=Level.ORANGE)) == []


def test_flush_writes_changed_rows_and_recorded_points() -> None:
    repo = InMemoryRiskRepository()
    svc, _ = service([asset("G1", "gas_pipeline", criticality=5)], [sensor("S1", "G1", "methane")])
    svc.repository = repo
    svc.flush()
    assert {(r.scope, r.hazard) for r in repo.current.values()} >= {
        ("asset:G1", GAS),
        ("district:D1", GAS),
        ("city", GAS),
    }
    svc.handle(anomaly("S1", "G1", "methane", value=22.0, level=Level.ORANGE))
    rows, points = svc.flush()
    assert rows == 3 and points == 3
    cur = repo.current[("asset:G1", GAS)]
    assert cur.level == Level.ORANGE and cur.likelihood == 4 and cur.factors and "methane" in cur.explanation
    assert repo.current[("district:D1", GAS)].level == Level.ORANGE
    assert svc.flush() == (0, 0)  # nothing changed, nothing written
    svc.recompute_all(T0 + timedelta(minutes=10, seconds=30))  # same 5-min bucket, unchanged: no points
    assert svc.flush()[1] == 0
    svc.recompute_all(T0 + timedelta(minutes=16))  # new bucket: heartbeat for the orange asset and its scopes
    _, points = svc.flush()
    scopes = {p.scope for p in repo.series.values() if p.ts == T0 + timedelta(minutes=16)}
    assert {"asset:G1", "district:D1", "city"} <= scopes and points >= 3


def test_bench_command_last_line(capsys) -> None:  # type: ignore[no-untyped-def]
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    register(sub)
    args = parser.parse_args(
        ["risk", "--assets", "300", "--sensors", "1000", "--repeat", "2", "--events", "50", "--warm-events", "50"]
        + ["--no-scaled"]  # the 3k/30k same-density figures are the bench's, too long for a test
    )
    assert args.func(args) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    key_full, key_inc = last.split(" ")
    assert key_full.startswith("full_recompute_ms=") and key_inc.startswith("incremental_ms=")
    assert float(key_full.split("=")[1]) > 0 and float(key_inc.split("=")[1]) > 0


def test_risk_full_ms_is_callable_by_other_benches() -> None:
    """``resilience bench city`` calls it: a positive median for a small city."""
    assert risk_full_ms(200, repeat=1, warm_events=20) > 0
