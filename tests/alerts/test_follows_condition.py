"""An alert follows its condition (Alertmanager: firing while the expression holds): a live hazard cannot be
closed and forgotten. Resolving while the condition holds needs an override with a reason, and an alert so
resolved re-opens and notifies again if the condition still holds after the rule's hold; once the
condition ends, even after resolution, the alert says so and stays resolved."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from alerts.lifecycle import LifecycleError, reopen_if_condition_holds, resolve
from alerts.model import AlertState
from resilience.core.domain import Level
from resilience.core.events import AnomalyPhase
from tests.alerts.helpers import anomaly, at
from tests.alerts.test_engine_db import Clock
from tests.alerts.test_lifecycle import RULES, fold
from tests.alerts.test_one_alert_per_incident import engine, live


def test_a_held_condition_blocks_plain_resolution_and_an_override_reopens_after_the_hold() -> None:
    alert, _ = fold(None, anomaly(level=Level.RED, t=0))
    assert alert.condition_active
    with pytest.raises(LifecycleError, match="condition still holds"):
        resolve(alert, by="duty", note="looks fine", now=at(120))
    (tr,) = resolve(alert, by="duty", note="crew says vented", now=at(120), override=True)
    assert alert.state is AlertState.RESOLVED and tr.data["override"] is True
    hold = RULES.reopen_after_rules(alert.rules)
    assert reopen_if_condition_holds(alert, at(120 + hold - 1), hold) == []
    (tr,) = reopen_if_condition_holds(alert, at(120 + hold), hold)
    assert tr.kind == "reopened" and tr.data["reason"] == "condition_active"
    assert alert.state is AlertState.FIRING and alert.fire_count == 2 and alert.level is Level.RED
    assert alert.resolved_at is None and alert.acknowledged_at is None


def test_a_condition_that_ends_after_resolution_is_recorded_and_never_reopens() -> None:
    alert, _ = fold(None, anomaly(level=Level.ORANGE, t=0))
    resolve(alert, by="duty", note="valve closed", now=at(60), override=True)
    alert, tr = fold(alert, anomaly(phase=AnomalyPhase.CLOSE, t=90))
    assert [t.kind for t in tr] == ["cleared"] and tr[0].data["message"]["code"] == "alertmsg.cleared_after_resolve"
    assert not alert.condition_active and alert.state is AlertState.RESOLVED
    assert reopen_if_condition_holds(alert, at(10_000), 0) == []


def test_a_cleared_alert_resolves_by_hand_without_override() -> None:
    alert, _ = fold(None, anomaly(level=Level.YELLOW, t=0))
    alert, _ = fold(alert, anomaly(phase=AnomalyPhase.CLOSE, t=30))
    assert not alert.condition_active
    resolve(alert, by="duty", note="checked on site", now=at(40))
    assert alert.state is AlertState.RESOLVED


def test_the_engine_reopens_a_live_gas_leak_closed_by_hand_and_notifies_again(adb: Engine) -> None:
    """The duty officer's case: the gas alert resolved at 2 minutes while methane stays high fires again
    (a re-opening, notified once more); after the leak ends the alert clears and stays resolved."""
    from alerts.service import AlertService

    clock = Clock(at(0))
    eng = engine(adb, clock)
    (a,) = eng.handle(anomaly(level=Level.RED, t=0, anomaly_id="leak", asset="tunnel-10"))
    with adb.begin() as conn:
        with pytest.raises(LifecycleError, match="condition still holds"):
            AlertService(conn, eng.rules, at(120)).resolve(a.id, by="duty", note="resolved too early")
    with adb.begin() as conn:
        AlertService(conn, eng.rules, at(120)).resolve(a.id, by="duty", note="crew vented", override=True)
    hold = eng.rules.reopen_after_rules(a.rules)
    assert eng.tick(at(120 + hold - 1)).reopened == 0
    result = eng.tick(at(120 + hold))
    assert result.reopened == 1
    (reopened,) = result.changed
    assert reopened.state is AlertState.FIRING and reopened.fire_count == 2
    assert [r["kind"] for r in live(adb)] == ["firing", "resolved", "firing"]
    (again,) = eng.handle(
        anomaly(phase=AnomalyPhase.CLOSE, level=Level.RED, t=900, anomaly_id="leak", asset="tunnel-10")
    )
    assert not again.condition_active and again.cleared_at == at(900)
    assert eng.tick(at(5000)).reopened == 0


def test_the_reopened_notification_says_it_is_a_reopening(adb: Engine) -> None:
    from sqlalchemy import select

    from alerts.service import AlertService
    from alerts.store.schema import notifications

    clock = Clock(at(10_000))
    eng = engine(adb, clock)
    (a,) = eng.handle(anomaly(level=Level.RED, t=10_000, anomaly_id="leak-2", asset="tunnel-11"))
    with adb.begin() as conn:
        AlertService(conn, eng.rules, at(10_060)).resolve(a.id, by="duty", note="vented", override=True)
    eng.tick(at(10_060 + eng.rules.reopen_after_rules(a.rules)))
    with adb.connect() as conn:
        payloads = [
            r.payload["alert"]
            for r in conn.execute(
                select(notifications).where(notifications.c.alert_id == a.id).order_by(notifications.c.id)
            )
        ]
    assert [(p["state"], p["reopened"], p["condition"]) for p in payloads][-1] == ("firing", True, "active")


def test_an_incident_is_one_loop_acknowledging_and_resolving_its_members(adb: Engine) -> None:
    """A district-wide incident: the district alert is the row to work, its member assets' alerts follow it;
    while a member's condition holds, resolving the incident needs the override too."""
    from alerts.service import AlertService
    from tests.alerts.test_one_alert_per_incident import alert_rows, risk

    clock = Clock(at(0))
    eng = engine(adb, clock)
    eng.handle(risk("asset:w1", Level.ORANGE, 0))
    eng.handle(risk("asset:w2", Level.ORANGE, 2))
    eng.handle(risk("district:d1", Level.ORANGE, 2))
    rows = {a["scope"]: a for a in alert_rows(adb)}
    incident = rows["district:d1"]
    assert {rows[s]["parent_fingerprint"] for s in ("asset:w1", "asset:w2")} == {incident["fingerprint"]}
    with adb.begin() as conn:
        AlertService(conn, eng.rules, at(30)).acknowledge(incident["id"], by="duty", note="crews out")
    assert {a["scope"]: a["state"] for a in alert_rows(adb)} == {
        "asset:w1": "acknowledged",
        "asset:w2": "acknowledged",
        "district:d1": "acknowledged",
    }
    with adb.begin() as conn, pytest.raises(LifecycleError, match="condition"):
        AlertService(conn, eng.rules, at(60)).resolve(incident["id"], by="duty", note="done?")
    with adb.begin() as conn:
        AlertService(conn, eng.rules, at(60)).resolve(incident["id"], by="duty", note="mains isolated", override=True)
    after = {a["scope"]: a for a in alert_rows(adb)}
    assert {s: a["state"] for s, a in after.items()} == {s: "resolved" for s in after}
    from sqlalchemy import select

    from alerts.store.schema import alert_transitions

    with adb.connect() as conn:
        notes = (
            conn.execute(
                select(alert_transitions.c.note).where(
                    alert_transitions.c.alert_id == after["asset:w1"]["id"], alert_transitions.c.kind == "resolved"
                )
            )
            .scalars()
            .all()
        )
    assert len(notes) == 1 and f"with incident #{incident['id']}" in notes[0]


def test_a_reopening_by_the_tick_refreshes_level_and_first_action_like_a_refiring() -> None:
    """The red source ended, the yellow one holds: resolved by override, the alert re-opens at yellow with
    yellow's first action (a check), not the evacuation order of the red firing it was closed at."""
    from alerts.actions import first_action

    alert, _ = fold(None, anomaly(level=Level.YELLOW, t=0, anomaly_id="low", sensor="s1"))
    alert, _ = fold(alert, anomaly(level=Level.RED, t=30, anomaly_id="high", sensor="s2"))
    assert alert.level is Level.RED and alert.action_en == first_action(alert.hazard, Level.RED, RULES)[1]
    alert, _ = fold(alert, anomaly(phase=AnomalyPhase.CLOSE, level=Level.RED, t=60, anomaly_id="high", sensor="s2"))
    assert alert.condition_active and alert.level is Level.RED
    resolve(alert, by="duty", note="red sensor back to normal", now=at(90), override=True)
    hold = RULES.reopen_after_rules(alert.rules)
    (tr,) = reopen_if_condition_holds(alert, at(90 + hold), hold, RULES)
    assert tr.kind == "reopened" and alert.state is AlertState.FIRING
    assert alert.level is Level.YELLOW and alert.peak_level is Level.RED
    assert (alert.action_zh, alert.action_en) == first_action(alert.hazard, Level.YELLOW, RULES)
    assert alert.level_since == alert.fired_at == at(90 + hold) and alert.cleared_at is None
    assert alert.escalation_tier == 0 and alert.resolved_by is None
