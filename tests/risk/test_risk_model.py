"""Matrix mapping, graded floors, silent sensors and explanations of the risk model."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sklearn.base import clone

from resilience.core.domain import Level
from resilience.core.events import AnomalyPhase
from resilience.risk.config import DEFAULT_MATRIX, RiskConfig
from resilience.risk.evidence import EvidenceStore
from resilience.risk.model import RiskModel

from .helpers import anomaly, asset, health, north, sensor, service

GAS = "gas_explosion"


# -- the 5x5 matrix and its grade boundaries -------------------------------------------------------
@pytest.mark.parametrize("i", range(4))
def test_likelihood_grade_boundaries(i: int) -> None:
    cfg = RiskConfig()
    b = cfg.likelihood_bounds[i]
    assert cfg.likelihood_grade(b) == i + 2
    assert cfg.likelihood_grade(b - 1e-9) == i + 1


@pytest.mark.parametrize("i", range(4))
def test_consequence_grade_boundaries(i: int) -> None:
    cfg = RiskConfig()
    b = cfg.consequence_bounds[i]
    assert cfg.consequence_grade(b) == i + 2
    assert cfg.consequence_grade(b - 1e-9) == i + 1


def test_extremes_of_grades() -> None:
    cfg = RiskConfig()
    assert cfg.likelihood_grade(0.0) == 1 and cfg.likelihood_grade(1.0) == 5
    assert cfg.consequence_grade(0.0) == 1 and cfg.consequence_grade(1.0) == 5


@pytest.mark.parametrize("likelihood", range(1, 6))
@pytest.mark.parametrize("consequence", range(1, 6))
def test_matrix_cells(likelihood: int, consequence: int) -> None:
    assert RiskConfig().level_for(likelihood, consequence) == Level.parse(
        DEFAULT_MATRIX[likelihood - 1][consequence - 1]
    )


def test_matrix_corners_and_monotone() -> None:
    cfg = RiskConfig()
    assert cfg.level_for(1, 5) == Level.NONE  # no live evidence never alarms
    assert cfg.level_for(4, 4) == Level.ORANGE
    assert cfg.level_for(5, 5) == Level.RED


def test_config_rejects_decreasing_matrix_and_bounds() -> None:
    bad = [list(r) for r in DEFAULT_MATRIX]
    bad[4][4] = "blue"
    with pytest.raises(ValidationError, match="must not decrease"):
        RiskConfig.from_dict({"matrix": bad})
    with pytest.raises(ValidationError, match="strictly increasing"):
        RiskConfig.from_dict({"likelihood_bounds": [0.1, 0.1, 0.5, 0.8]})
    with pytest.raises(ValidationError):
        RiskConfig.from_dict({"no_such_key": 1})


def test_config_from_yaml_overrides_and_keeps_defaults() -> None:
    cfg = RiskConfig.from_yaml("likelihood_bounds: [0.05, 0.2, 0.5, 0.7]\nsilent_penalty: 0.2\n")
    assert cfg.likelihood_bounds == (0.05, 0.2, 0.5, 0.7)
    assert cfg.silent_penalty == 0.2
    assert cfg.matrix == DEFAULT_MATRIX


# -- graded breaches -------------------------------------------------------------------------------
CRITICAL = dict(criticality=5, district="D1")  # consequence grade 4 (criticality 5, 40,000 people)
MINOR = dict(criticality=1, district="D2")  # consequence grade 1 (criticality 1, nobody)


@pytest.mark.parametrize(
    ("level", "value", "expected"),
    [
        (Level.BLUE, 6.0, Level.BLUE),
        (Level.YELLOW, 12.0, Level.YELLOW),
        (Level.ORANGE, 22.0, Level.ORANGE),
        (Level.RED, 55.0, Level.RED),
    ],
)
def test_graded_breach_on_critical_asset_follows_matrix(level: Level, value: float, expected: Level) -> None:
    svc, _ = service([asset("G1", "gas_pipeline", **CRITICAL)], [sensor("S1", "G1", "methane")])
    svc.handle(anomaly("S1", "G1", "methane", value=value, level=level, score=1.0, minutes=120))
    risk = svc.asset_risk("G1")[GAS]
    assert risk.consequence == 4
    assert risk.likelihood == {Level.BLUE: 2, Level.YELLOW: 3, Level.ORANGE: 4, Level.RED: 5}[level]
    assert risk.level == expected


@pytest.mark.parametrize(
    ("level", "expected"),
    [(Level.BLUE, Level.NONE), (Level.YELLOW, Level.NONE), (Level.ORANGE, Level.ORANGE), (Level.RED, Level.RED)],
)
def test_regulatory_floor_regardless_of_consequence(level: Level, expected: Level) -> None:
    svc, _ = service([asset("G1", "gas_pipeline", **MINOR)], [sensor("S1", "G1", "methane")])
    svc.handle(anomaly("S1", "G1", "methane", value=30.0, level=level))
    risk = svc.asset_risk("G1")[GAS]
    assert risk.consequence == 1
    assert risk.level == expected
    if expected >= Level.ORANGE:
        assert any(f.name == "regulatory_floor" for f in risk.factors)
        assert "regardless of consequence" in risk.explanation


def test_non_regulatory_kind_has_no_floor() -> None:
    """An orange H2S breach is weak evidence of explosion: weighted, not floored."""
    svc, _ = service([asset("C1", "drainage_culvert", **MINOR)], [sensor("H", "C1", "h2s")])
    svc.handle(anomaly("H", "C1", "h2s", value=15.0, level=Level.ORANGE))
    assert svc.asset_risk("C1")[GAS].level == Level.NONE
    assert svc.asset_risk("C1")["toxic_atmosphere"].level == Level.ORANGE  # but it is toxic


def test_ungraded_anomaly_alone_stays_below_orange() -> None:
    svc, _ = service(
        [asset("W1", "water_main", criticality=5, install_year=1950, material="cast_iron", past_incidents=5)],
        [sensor("N", "W1", "leak_noise")],
    )
    svc.handle(anomaly("N", "W1", "leak_noise", value=70.0, score=1.0, minutes=600))
    risk = svc.asset_risk("W1")["water_main_burst"]
    assert risk.likelihood == 3
    assert risk.level < Level.ORANGE


def test_corroborating_evidence_raises_likelihood() -> None:
    sensors = [sensor("N", "W1", "leak_noise"), sensor("F", "W1", "water_flow")]
    svc, _ = service([asset("W1", "water_main", criticality=5)], sensors)
    svc.handle(anomaly("N", "W1", "leak_noise", value=70.0, score=0.9, minutes=60))
    one = svc.asset_risk("W1")["water_main_burst"]
    svc.handle(anomaly("F", "W1", "water_flow", value=300.0, score=0.9, minutes=60))
    two = svc.asset_risk("W1")["water_main_burst"]
    assert two.probability > one.probability
    assert two.likelihood > one.likelihood


def test_vulnerability_amplifies_but_never_alarms_alone() -> None:
    old = asset("W1", "water_main", criticality=5, install_year=1930, material="cast_iron", past_incidents=9)
    new = asset("W2", "water_main", criticality=5, install_year=2020, material="pe", lon=120.5)
    svc, _ = service([old, new], [sensor("N1", "W1", "leak_noise"), sensor("N2", "W2", "leak_noise")])
    assert svc.asset_risk("W1")["water_main_burst"].level == Level.NONE
    assert svc.asset_risk("W1")["water_main_burst"].probability > svc.asset_risk("W2")["water_main_burst"].probability
    svc.handle(anomaly("N1", "W1", "leak_noise", value=70.0, score=0.4))
    svc.handle(anomaly("N2", "W2", "leak_noise", value=70.0, score=0.4, aid="b"))
    assert svc.asset_risk("W1")["water_main_burst"].probability > svc.asset_risk("W2")["water_main_burst"].probability


# -- silent sensors ---------------------------------------------------------------------------------
def test_silent_sensor_raises_uncertainty_never_lowers_risk() -> None:
    svc, _ = service([asset("G1", "gas_pipeline", **CRITICAL)], [sensor("S1", "G1", "methane")])
    quiet = svc.asset_risk("G1")[GAS]
    svc.handle(health("S1", "G1", "methane", "silent", minutes=1))
    silent_quiet = svc.asset_risk("G1")[GAS]
    assert silent_quiet.uncertainty == 1.0 > quiet.uncertainty
    assert silent_quiet.probability > quiet.probability
    assert "silent" in silent_quiet.explanation

    svc.handle(health("S1", "G1", "methane", "ok", minutes=2))
    svc.handle(anomaly("S1", "G1", "methane", value=22.0, level=Level.ORANGE, minutes=5))
    with_breach = svc.asset_risk("G1")[GAS]
    svc.handle(health("S1", "G1", "methane", "silent", minutes=30))
    silent_breach = svc.asset_risk("G1")[GAS]
    assert silent_breach.level >= with_breach.level == Level.ORANGE
    assert silent_breach.score >= with_breach.score
    # stale evidence is aged out at full recomputation, except on a silent sensor
    late = svc.clock().replace(hour=23)  # 11 h after the last update, past the 6 h evidence TTL
    svc.recompute_all(late)
    assert svc.asset_risk("G1")[GAS].level == Level.ORANGE
    svc.handle(health("S1", "G1", "methane", "ok", minutes=700))
    svc.recompute_all(late)
    assert svc.asset_risk("G1")[GAS].level == Level.NONE


# -- explanations ------------------------------------------------------------------------------------
def test_explanation_names_its_factors() -> None:
    assets = [
        asset("C1", "drainage_culvert", name="Zhongshan Rd culvert", criticality=5),
        asset("H1", "critical_facility", name="City hospital", lat=north(100), facility="hospital"),
    ]
    svc, _ = service(assets, [sensor("S8812", "C1", "methane")])
    svc.handle(anomaly("S8812", "C1", "methane", value=22.0, level=Level.ORANGE, minutes=35))
    risk = svc.asset_risk("C1")[GAS]
    text = risk.explanation
    for needle in (
        "Gas explosion",
        "Zhongshan Rd culvert",
        "ORANGE",
        "methane 22 %LEL",
        "orange breach",
        "S8812",
        "35 min",
        "population 40,000",
        "hospital City hospital at 100 m",
        "criticality 5/5",
    ):
        assert needle in text, needle
    names = {f.name for f in risk.factors}
    assert {"graded_breach", "criticality", "population", "critical_facility", "vulnerability"} <= names
    breach = next(f for f in risk.factors if f.name == "graded_breach")
    assert breach.source == "S8812" and 0 < breach.weight <= 1
    assert risk.to_dict()["factors"][0]["name"]


# -- estimator conventions -----------------------------------------------------------------------------
def test_estimator_conventions() -> None:
    cfg = RiskConfig(silent_penalty=0.2)
    model = RiskModel(config=cfg, coupling_rules=())
    assert model.get_params()["config"] is cfg
    twin = clone(model)
    assert twin.get_params()["config"] == cfg and not hasattr(twin, "assets_")
    fitted = model.fit([asset("G1", "gas_pipeline")], [], [sensor("S1", "G1", "methane")])
    assert fitted is model and model.pairs_ == [("G1", GAS)]
    ev = EvidenceStore()
    ev.apply_anomaly(anomaly("S1", "G1", "methane", value=60.0, level=Level.RED))
    proba = model.predict_proba(ev)
    assert proba.shape == (1, 2) and proba[0, 1] >= 0.8 and abs(proba.sum() - 1) < 1e-9
    assert model.predict(ev).tolist() == [int(Level.RED)]
    ev.apply_anomaly(anomaly("S1", "G1", "methane", value=1.0, phase=AnomalyPhase.CLOSE))
    assert model.predict(ev).tolist() == [int(Level.NONE)]


def test_likelihood_floor_holds_for_down_weighted_regulatory_kind() -> None:
    """Heating manhole air temperature weighs 0.8, but an orange breach still guarantees likelihood 4."""
    svc, _ = service([asset("P1", "heating_pipe", **CRITICAL)], [sensor("T", "P1", "temperature")])
    svc.handle(anomaly("T", "P1", "temperature", value=55.0, level=Level.ORANGE, score=0.0))
    risk = svc.asset_risk("P1")["heating_leak"]
    assert risk.probability < RiskConfig().likelihood_bounds[2]  # the weighted evidence alone is grade 3
    assert risk.likelihood == 4 and risk.level == Level.ORANGE


def test_state_round_trip_is_versioned() -> None:
    import json

    model = RiskModel(config=RiskConfig(silent_penalty=0.25))
    state = json.loads(json.dumps(model.get_state()))
    assert RiskModel.from_state(state).config == model.config
    with pytest.raises(ValueError, match="version"):
        RiskModel.from_state({**state, "version": "risk-spectrum/0"})


def test_statistical_evidence_needs_corroboration_from_another_kind() -> None:
    from resilience.core.domain import Level as L

    from .helpers import anomaly, asset, sensor, service

    assets = [asset("B1", "bridge", criticality=5, install_year=1970, material="steel", past_incidents=3)]
    sensors = [
        sensor("S1", "B1", "strain"),
        sensor("S2", "B1", "strain"),
        sensor("S3", "B1", "strain"),
        sensor("S4", "B1", "bearing_displacement"),
    ]
    svc, _ = service(assets, sensors)
    for sid in ("S1", "S2", "S3"):  # one kind, however many gauges: traffic loads them all at once
        svc.handle(anomaly(sid, "B1", "strain", value=60.0, score=1.0, minutes=0))
    alone = svc.asset_risk("B1")["structural_failure"]
    assert alone.likelihood == 3 and alone.level < L.ORANGE
    assert any(f.name == "uncorroborated" for f in alone.factors)
    svc.handle(anomaly("S4", "B1", "bearing_displacement", value=8.0, score=1.0, minutes=0))
    both = svc.asset_risk("B1")["structural_failure"]
    assert both.likelihood == 5 and both.level >= L.ORANGE
