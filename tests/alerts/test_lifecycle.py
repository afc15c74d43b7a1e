import pytest

from alerts.config import load_rules
from alerts.lifecycle import LifecycleError, acknowledge, apply_signal, auto_resolve, escalation_due, resolve, review
from alerts.model import AlertState
from alerts.signals import AssetInfo, signals_for
from resilience.core.domain import Level
from resilience.core.events import AnomalyPhase, RiskLevelEvent, SensorHealthEvent
from tests.alerts.helpers import anomaly, at

RULES = load_rules()
ASSETS = {
    "a1": AssetInfo("a1", "Main St gas", "gas_pipeline", "d1", "gasco"),
    "w1": AssetInfo("w1", "Well 7", "drainage_culvert", "d1", "drainco"),
    "b1": AssetInfo("b1", "Bridge 1", "bridge", "d1", "roads"),
}


def fold(alert, event):
    transitions = []
    for sig in signals_for(event, RULES, ASSETS.get):
        alert, tr = apply_signal(alert, sig, rules=RULES)
        transitions += tr
    return alert, transitions


def test_threshold_breach_fires_one_alert_with_action_and_evidence() -> None:
    alert, tr = fold(None, anomaly(level=Level.YELLOW))
    assert alert is not None and [t.kind for t in tr] == ["fired"]
    assert (alert.state, alert.level, alert.hazard, alert.rule) == (
        AlertState.FIRING,
        Level.YELLOW,
        "gas_explosion",
        "gas_leak",
    )
    assert alert.district_id == "d1" and alert.asset_id == "a1"
    assert alert.evidence["sensor_id"] == "s1" and alert.evidence["value"] == 12.0
    assert "燃气" in alert.action_zh and "gas utility" in alert.action_en


def test_same_problem_from_two_detectors_updates_one_alert_and_escalates() -> None:
    alert, _ = fold(None, anomaly(level=Level.YELLOW, anomaly_id="x1"))
    fp = alert.fingerprint
    alert, tr = fold(alert, anomaly(level=Level.NONE, score=0.9, anomaly_id="x2", detector="hst", t=30))
    assert alert.fingerprint == fp and tr == [] and alert.level is Level.YELLOW  # score-only blue < yellow
    alert, tr = fold(alert, anomaly(level=Level.RED, anomaly_id="x1", t=60))
    assert [t.kind for t in tr] == ["escalated"] and alert.level is Level.RED and alert.version == 2
    assert "evacuate" in alert.action_en.lower()


def test_low_score_without_threshold_breach_does_not_fire() -> None:
    alert, tr = fold(None, anomaly(level=Level.NONE, score=0.5))
    assert alert is None and tr == []


def test_coupled_hazard_raises_methane_in_drainage_well_one_level() -> None:
    alert, _ = fold(None, anomaly(asset="w1", level=Level.ORANGE))
    assert alert.level is Level.RED and alert.evidence["raised_for_asset_kind"] == "drainage_culvert"


def test_clears_only_when_all_sources_cleared_then_auto_resolves_after_hold_time() -> None:
    alert, _ = fold(None, anomaly(anomaly_id="x1"))
    alert, _ = fold(alert, anomaly(anomaly_id="x2", sensor="s2", t=10))
    alert, tr = fold(alert, anomaly(anomaly_id="x1", phase=AnomalyPhase.CLOSE, t=20))
    assert tr == [] and alert.cleared_at is None
    alert, tr = fold(alert, anomaly(anomaly_id="x2", sensor="s2", phase=AnomalyPhase.CLOSE, t=30))
    assert [t.kind for t in tr] == ["cleared"] and alert.cleared_at == at(30)
    hold = RULES.resolve_after("gas_leak")
    assert auto_resolve(alert, at(30 + hold - 1), hold) == []
    tr = auto_resolve(alert, at(30 + hold), hold)
    assert [t.kind for t in tr] == ["resolved"] and alert.state is AlertState.RESOLVED and alert.resolved_by == "system"


def test_structural_alert_waits_for_an_engineer_when_its_condition_clears() -> None:
    """A bearing offset the detectors have come to accept is not a repair: the alert stays until a person
    resolves it, and the repair (the offset going back) is evidence on the same alert, not a second one."""
    ev = dict(sensor="bd1", asset="b1", kind="bearing_displacement", level=Level.NONE, score=0.95)
    alert, _ = fold(None, anomaly(anomaly_id="shift", **ev))
    assert alert.rule == "structure"
    alert, tr = fold(alert, anomaly(anomaly_id="shift", phase=AnomalyPhase.CLOSE, t=3600, **ev))
    assert [t.kind for t in tr] == ["cleared"]
    assert RULES.resolve_after_rules(alert.rules) == float("inf")
    assert auto_resolve(alert, at(10 * 86_400), RULES.resolve_after_rules(alert.rules)) == []
    alert, tr = fold(alert, anomaly(anomaly_id="back", t=5 * 3600, **ev))
    assert [t.kind for t in tr] == ["recurred"] and alert.fire_count == 1
    with pytest.raises(LifecycleError, match="condition still holds"):
        resolve(alert, by="eng-wang", note="bearing replaced, inspected", now=at(6 * 3600))
    (tr,) = resolve(alert, by="eng-wang", note="bearing replaced, inspected", now=at(6 * 3600), override=True)
    assert alert.state is AlertState.RESOLVED and alert.resolved_by == "eng-wang"
    assert tr.data["override"] is True and "bearing replaced" in tr.note


def test_recurrence_before_hold_time_cancels_auto_resolve() -> None:
    alert, _ = fold(None, anomaly())
    alert, _ = fold(alert, anomaly(phase=AnomalyPhase.CLOSE, t=10))
    alert, tr = fold(alert, anomaly(phase=AnomalyPhase.UPDATE, t=20))
    assert [t.kind for t in tr] == ["recurred"] and alert.cleared_at is None
    assert auto_resolve(alert, at(100_000), 10) == []


def test_refiring_after_resolution_reopens_with_counter() -> None:
    alert, _ = fold(None, anomaly())
    acknowledge(alert, by="li", note="on it", now=at(5))
    resolve(alert, by="li", note="valve closed", now=at(50), override=True)
    alert, tr = fold(alert, anomaly(anomaly_id="x9", t=100))
    assert [t.kind for t in tr] == ["reopened"]
    assert alert.state is AlertState.FIRING and alert.fire_count == 2 and alert.acknowledged_by is None


def test_manual_transitions_validate_state() -> None:
    alert, _ = fold(None, anomaly())
    tr = acknowledge(alert, by="wang", note="checking", now=at(60))
    assert tr[0].actor == "wang" and alert.acknowledged_at == at(60)
    with pytest.raises(LifecycleError):
        acknowledge(alert, by="wang", note="again", now=at(61))
    with pytest.raises(LifecycleError, match="note is required"):
        resolve(alert, by="wang", note=" ", now=at(62))
    with pytest.raises(LifecycleError):
        review(alert, by="centre", note="too early", now=at(63))
    resolve(alert, by="wang", note="fixed", now=at(64), override=True)
    review(alert, by="centre", note="good response", now=at(65))
    assert alert.state is AlertState.CLOSED


def test_risk_event_entering_orange_fires_and_leaving_clears() -> None:
    ev = RiskLevelEvent(
        scope="district:d1",
        hazard="waterlogging",
        previous=Level.YELLOW,
        level=Level.ORANGE,
        score=0.7,
        ts=at(0),
        explanation="rain 60 mm/3h",
    )
    alert, tr = fold(None, ev)
    assert alert.rule == "district_risk" and alert.district_id == "d1" and alert.level is Level.ORANGE
    ev2 = RiskLevelEvent(
        scope="district:d1", hazard="waterlogging", previous=Level.ORANGE, level=Level.YELLOW, score=0.4, ts=at(600)
    )
    alert, tr = fold(alert, ev2)
    assert [t.kind for t in tr] == ["cleared"]
    yellow = RiskLevelEvent(
        scope="asset:a1", hazard="gas_explosion", previous=Level.BLUE, level=Level.YELLOW, score=0.3, ts=at(0)
    )
    assert fold(None, yellow)[0] is None


def test_sensor_health_silent_fires_per_sensor_and_ok_clears() -> None:
    ev = SensorHealthEvent(sensor_id="s1", asset_id="a1", sensor_kind="methane", status="silent", ts=at(0))
    alert, _ = fold(None, ev)
    assert alert.scope == "sensor:s1" and alert.hazard == "sensor_fault" and alert.labels["sensor_id"] == "s1"
    alert, tr = fold(
        alert, SensorHealthEvent(sensor_id="s1", asset_id="a1", sensor_kind="methane", status="ok", ts=at(120))
    )
    assert [t.kind for t in tr] == ["cleared"]
    assert auto_resolve(alert, at(120), RULES.resolve_after("sensor_silent"))


def test_escalation_tiers_follow_ack_deadline_per_hazard() -> None:
    alert, _ = fold(None, anomaly(level=Level.RED))
    assert escalation_due(alert, RULES.escalations, at(299)) is None
    assert escalation_due(alert, RULES.escalations, at(300)).policy == "gas_red_fast"
    policies = [p for p in RULES.escalations if p.name == "red_unacknowledged"]
    assert escalation_due(alert, policies, at(599)) is None
    due = escalation_due(alert, policies, at(600))
    assert due is not None and due.tier == 0 and due.receivers == ("duty_supervisor",)
    alert.escalation_tier = 1
    assert escalation_due(alert, policies, at(1199)) is None
    assert escalation_due(alert, policies, at(1200)).receivers == ("city_emergency_office",)
    alert.escalation_tier = 2
    assert escalation_due(alert, policies, at(10_000)) is None
    alert.escalation_tier = 0
    acknowledge(alert, by="x", note="", now=at(100))
    assert escalation_due(alert, policies, at(10_000)) is None


def test_escalation_counts_from_reaching_the_level_and_skips_muted() -> None:
    alert, _ = fold(None, anomaly(level=Level.YELLOW, kind="water_pressure"))
    alert, _ = fold(alert, anomaly(level=Level.RED, kind="water_pressure", t=3600))
    assert alert.rule == "water_main"
    assert escalation_due(alert, RULES.escalations, at(3600 + 599)) is None
    assert escalation_due(alert, RULES.escalations, at(3600 + 600)) is not None
    alert.silenced = True
    assert escalation_due(alert, RULES.escalations, at(3600 + 600)) is None
