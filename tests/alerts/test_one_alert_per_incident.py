"""Issue 5: one alert per real problem, at most one firing notification per incident per channel.

Real PostgreSQL; the engine runs on a test clock and the default rule timing (group_wait 10 s,
group_interval 5 min), so these tests see exactly what receivers would be sent and when.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import Engine, select

from alerts.channels.base import Message
from alerts.dispatcher import Dispatcher
from alerts.consumer import AlertEngine
from alerts.evaluate import Incident, evaluate
from alerts.store.schema import alerts, notifications
from resilience.core.domain import Level
from resilience.core.events import AnomalyPhase, RiskLevelEvent
from tests.alerts.helpers import T0, anomaly, at
from tests.alerts.test_engine_db import Clock, rules_for

HOOK = "http://127.0.0.1:9/hook"


def engine(adb: Engine, clock: Clock) -> AlertEngine:
    return AlertEngine(adb, None, rules_for(HOOK, group_wait_s=10, group_interval_s=300), now=clock)


def risk(
    scope: str, level: Level, t: float, hazard: str = "gas_explosion", previous: Level = Level.YELLOW, **kw: object
) -> RiskLevelEvent:
    kind, _, ident = scope.partition(":")
    extra = {"asset_id": ident} if kind == "asset" else {"district_id": ident}
    return RiskLevelEvent(
        scope=scope,
        hazard=hazard,
        previous=previous,
        level=level,
        score=0.7,
        ts=at(t),
        explanation=f"{hazard} risk in {scope} is {level.label.upper()}",
        **{**extra, **kw},
    )  # type: ignore[arg-type]


def alert_rows(adb: Engine) -> list[dict]:
    with adb.connect() as c:
        return [dict(r._mapping) for r in c.execute(select(alerts).order_by(alerts.c.id))]


def live(adb: Engine) -> list[dict]:
    """Messages that go out (not cancelled while waiting)."""
    with adb.connect() as c:
        return [
            dict(r._mapping)
            for r in c.execute(
                select(notifications).where(notifications.c.status != "cancelled").order_by(notifications.c.id)
            )
        ]


def test_one_incident_on_one_asset_is_one_alert_and_one_firing_per_channel(adb: Engine) -> None:
    clock = Clock(at(0))
    eng = engine(adb, clock)
    # A detector score (blue), then the graded breach (orange), then the risk spectrum for the asset and its
    # district (one asset only: not district-wide) -- all the same gas leak on a1.
    eng.handle(anomaly(level=Level.NONE, score=0.9, detector="iforest", anomaly_id="score1", t=0))
    clock.advance(2)
    eng.handle(anomaly(level=Level.ORANGE, anomaly_id="breach1", t=2))
    clock.advance(2)
    eng.handle(risk("asset:a1", Level.ORANGE, 4))
    eng.handle(risk("district:d1", Level.ORANGE, 4))
    rows = alert_rows(adb)
    asset = [a for a in rows if a["scope"] == "asset:a1"]
    district = [a for a in rows if a["scope"] == "district:d1"]
    assert len(asset) == 1 and len(district) == 1
    a = asset[0]
    assert Level(a["level"]) is Level.ORANGE and a["rule"] == "gas_leak"
    assert a["evidence"]["rules"] == ["gas_leak", "asset_risk"]
    assert set(a["evidence"]["by_rule"]) == {"gas_leak", "asset_risk"}
    assert "methane" in a["explanation"] and "risk in asset:a1" in a["explanation"]
    assert district[0]["inhibited"] is True  # held: a single asset is not a district-wide situation
    out = live(adb)
    assert {r["alert_id"] for r in out} == {a["id"]}
    assert Counter(r["channel"] for r in out if r["kind"] == "firing") == {"webhook": 1}
    assert len(out) == 1 and out[0]["payload"]["alert"]["level"] == "orange"
    assert out[0]["next_attempt_at"] == at(10)  # group_wait from the first evidence
    clock.advance(600)
    eng.tick()
    assert len(live(adb)) == 1
    inc = Incident("i1", "leak", "gas_explosion", "a1", ("s1",), "d1", T0, at(1800))
    with adb.connect() as conn:
        score = evaluate(conn, [inc], days=1)
    assert score["caught"] == 1 and score["max_notifications_per_incident"] == 1
    assert score["max_messages_per_incident"] == 1
    # the asset's alert and the district's held one both match the incident; one row is worked
    assert score["per_incident"][0]["alerts"] == sorted([a["id"], district[0]["id"]])
    assert score["alerts_per_incident"] == 1 and score["alerts_per_incident_max"] == 1


class Sink:
    def __init__(self) -> None:
        self.sent: list[Message] = []

    def send(self, message: Message) -> None:
        self.sent.append(message)


def test_quick_escalation_within_group_wait_is_one_notification_then_group_interval(adb: Engine) -> None:
    clock = Clock(at(0))
    eng = engine(adb, clock)
    sink = Sink()
    d = Dispatcher(adb, {"webhook": sink}, now=clock)  # type: ignore[dict-item]
    for t, level in ((0, Level.BLUE), (3, Level.YELLOW), (6, Level.ORANGE)):
        clock.t = at(t)
        eng.handle(anomaly(level=level, t=t, anomaly_id="q1"))
        assert d.run_once() == 0  # still in group_wait
    (row,) = live(adb)
    assert row["kind"] == "firing" and row["payload"]["alert"]["level"] == "orange"
    clock.t = at(10)
    assert d.run_once() == 1
    assert [m.payload["alert"]["level"] for m in sink.sent] == ["orange"]
    assert [m.payload["kind"] for m in sink.sent] == ["firing"]
    # Nothing new: no more messages however often the engine ticks.
    clock.t = at(120)
    eng.tick()
    assert d.run_once() == 0


def test_level_rise_after_first_notification_waits_group_interval(adb: Engine) -> None:
    clock = Clock(at(0))
    eng = engine(adb, clock)
    sink = Sink()
    d = Dispatcher(adb, {"webhook": sink}, now=clock)  # type: ignore[dict-item]
    eng.handle(anomaly(level=Level.BLUE, t=0, anomaly_id="g1"))
    clock.t = at(10)
    assert d.run_once() == 1
    clock.t = at(30)
    eng.handle(anomaly(level=Level.YELLOW, t=30, anomaly_id="g1"))
    clock.t = at(40)
    eng.handle(anomaly(level=Level.ORANGE, t=40, anomaly_id="g1"))
    updates = [r for r in live(adb) if r["kind"] == "update"]
    assert len(updates) == 1 and updates[0]["payload"]["alert"]["level"] == "orange"
    assert updates[0]["next_attempt_at"] == at(310)  # group_interval after the first message went out
    clock.t = at(300)
    assert d.run_once() == 0
    clock.t = at(310)
    assert d.run_once() == 1
    assert [(m.payload["kind"], m.payload["alert"]["level"]) for m in sink.sent] == [
        ("firing", "blue"),
        ("update", "orange"),
    ]
    # Red is urgent: never held back by group_interval.
    clock.t = at(320)
    eng.handle(anomaly(level=Level.RED, t=320, anomaly_id="g1"))
    assert d.run_once() == 1
    assert sink.sent[-1].payload["alert"]["level"] == "red"


def test_district_with_two_assets_at_orange_groups_them_in_one_notification(adb: Engine) -> None:
    clock = Clock(at(0))
    eng = engine(adb, clock)
    eng.handle(risk("asset:w1", Level.ORANGE, 0))
    clock.advance(2)
    eng.handle(risk("asset:w2", Level.ORANGE, 2))
    eng.handle(risk("district:d1", Level.ORANGE, 2))
    rows = {a["scope"]: a for a in alert_rows(adb)}
    district = rows["district:d1"]
    assert district["inhibited"] is False
    assert rows["asset:w1"]["parent_fingerprint"] == district["fingerprint"]
    assert rows["asset:w2"]["parent_fingerprint"] == district["fingerprint"]
    out = live(adb)
    assert {r["alert_id"] for r in out} == {district["id"]}
    assert Counter((r["channel"], r["kind"]) for r in out) == {("webhook", "firing"): 1}
    assert sorted(c["asset_id"] for c in out[0]["payload"]["grouped"]) == ["w1", "w2"]
    # The asset alerts' own first messages were still in group_wait: superseded, not sent.
    with adb.connect() as c:
        cancelled = c.execute(select(notifications.c.alert_id).where(notifications.c.status == "cancelled")).all()
    assert {r[0] for r in cancelled} == {rows["asset:w1"]["id"], rows["asset:w2"]["id"]}


def test_single_asset_at_orange_gets_no_district_notification(adb: Engine) -> None:
    clock = Clock(at(0))
    eng = engine(adb, clock)
    eng.handle(risk("asset:w1", Level.ORANGE, 0))
    eng.handle(risk("district:d1", Level.ORANGE, 0))
    rows = {a["scope"]: a for a in alert_rows(adb)}
    assert rows["district:d1"]["inhibited"] is True and rows["asset:w1"]["parent_fingerprint"] is None
    out = live(adb)
    assert {r["alert_id"] for r in out} == {rows["asset:w1"]["id"]}
    assert [r["kind"] for r in out] == ["firing"]
    # A second asset reaching orange makes it district-wide: the district alert notifies once.
    clock.advance(60)
    eng.handle(risk("asset:w2", Level.ORANGE, 60))
    rows = {a["scope"]: a for a in alert_rows(adb)}
    assert rows["district:d1"]["inhibited"] is False
    firing = Counter(r["alert_id"] for r in live(adb) if r["kind"] == "firing")
    assert firing == {rows["asset:w1"]["id"]: 1, rows["district:d1"]["id"]: 1}


def test_district_wide_evidence_notifies_without_two_assets(adb: Engine) -> None:
    clock = Clock(at(0))
    eng = engine(adb, clock)
    eng.handle(
        risk(
            "district:d1",
            Level.ORANGE,
            0,
            hazard="waterlogging",
            factors=[{"name": "driver", "detail": "district rainfall 62 mm/h (orange)"}],
        )
    )
    (row,) = alert_rows(adb)
    assert row["inhibited"] is False
    assert [r["kind"] for r in live(adb)] == ["firing"]


def test_resolved_before_first_message_sends_nothing_but_later_resolution_is_sent(adb: Engine) -> None:
    from alerts.service import AlertService

    clock = Clock(at(0))
    eng = engine(adb, clock)
    (a,) = eng.handle(anomaly(level=Level.YELLOW, t=0, anomaly_id="r1"))
    with adb.begin() as conn:
        AlertService(conn, eng.rules, at(5)).resolve(
            a.id, by="wang", note="false reading, sensor cleaned", override=True
        )
    assert live(adb) == []
    clock.t = at(100)
    (b,) = eng.handle(anomaly(level=Level.YELLOW, t=100, anomaly_id="r2"))
    clock.t = at(200)
    with adb.begin() as conn:
        AlertService(conn, eng.rules, clock.t).resolve(b.id, by="wang", note="valve closed", override=True)
    assert [r["kind"] for r in live(adb)] == ["firing", "resolved"]


def test_default_routes_dashboard_gets_one_message_at_the_level_reached(adb: Engine) -> None:
    """MQTT topics carry the level: the waiting message moves to the new topic instead of adding one."""
    from alerts.api_support import get_rules

    clock = Clock(at(0))
    eng = AlertEngine(adb, None, get_rules(), now=clock)
    for t, level in ((0, Level.BLUE), (3, Level.YELLOW), (6, Level.ORANGE)):
        clock.t = at(t)
        eng.handle(anomaly(level=level, t=t, anomaly_id="m1"))
    out = live(adb)
    assert [(r["channel"], r["kind"], r["target"]) for r in out] == [("mqtt", "firing", "alerts/d1/orange")]


def _coupled(level: Level, t: float, own_weight: float = 0.1) -> RiskLevelEvent:
    """Waterlogging risk at well w2 that comes from surcharged well w1 upstream (and a weak anomaly of its own)."""
    factors = [
        {"name": "anomaly", "side": "likelihood", "weight": own_weight, "detail": "lv2 above usual", "source": "lv2"},
        {
            "name": "coupling",
            "side": "likelihood",
            "weight": 0.6,
            "detail": "upstream drainage is filling",
            "source": "w1",
            "distance_m": 108.0,
            "rule": "upstream_drainage",
        },
    ]
    return risk("asset:w2", level, t, hazard="waterlogging", factors=factors if level >= Level.ORANGE else [])


def test_risk_that_comes_from_a_neighbour_joins_the_neighbours_alert_and_leaves_it(adb: Engine) -> None:
    """Blocked well w1 surcharges; the coupling lifts well w2 downstream to orange. That is w1's problem seen
    from w2: w1's alert carries it (evidence and level), no second alert fires, and it clears with w2's risk."""
    clock = Clock(at(0))
    eng = engine(adb, clock)
    eng.handle(anomaly(sensor="lv1", asset="w1", kind="drainage_level", level=Level.YELLOW, anomaly_id="up", t=0))
    clock.advance(20)
    eng.handle(_coupled(Level.ORANGE, 20))
    rows = alert_rows(adb)
    assert [a["scope"] for a in rows] == ["asset:w1"], "the downstream well got an alert of its own"
    w1 = rows[0]
    assert Level(w1["level"]) is Level.ORANGE and "risk:asset:w2" in w1["sources"]
    assert w1["evidence"]["coupled_target"] == "asset:w2" and "asset_risk" in w1["evidence"]["rules"]
    # w2's risk falls back: its contribution leaves w1's alert, which still fires on its own anomaly
    clock.advance(600)
    eng.handle(_coupled(Level.YELLOW, 620))
    w1 = alert_rows(adb)[0]
    assert "risk:asset:w2" not in w1["sources"] and w1["state"] == "firing" and w1["cleared_at"] is None
    # with strong evidence of its own, the same risk is w2's alert
    clock.advance(60)
    eng.handle(_coupled(Level.ORANGE, 680, own_weight=0.9))
    assert sorted(a["scope"] for a in alert_rows(adb)) == ["asset:w1", "asset:w2"]


def test_coupled_cause_needs_the_coupling_to_outweigh_own_evidence() -> None:
    from alerts.signals import coupled_cause

    coupling = {"name": "coupling", "weight": 0.6, "source": "w1"}
    assert coupled_cause([coupling], "w2") == "w1"
    assert coupled_cause([coupling, {"name": "anomaly", "weight": 0.2, "source": "lv2"}], "w2") == "w1"
    assert coupled_cause([coupling, {"name": "anomaly", "weight": 0.7, "source": "lv2"}], "w2") is None
    assert coupled_cause([coupling, {"name": "graded_breach", "weight": 0.1, "source": "lv2"}], "w2") is None
    # a bump qualifies the asset's own evidence: not a cause elsewhere
    assert coupled_cause([{"name": "coupling_bump", "weight": 1, "source": "a1"}], "w2") is None


def test_ungraded_effect_downstream_of_an_alerting_manhole_joins_its_alert(adb: Engine) -> None:
    """Well w2 lies below w1. w1 surcharges (graded); w2's level drops far below its usual (a score, no
    limit breached): the blockage between them, one problem, one alert. A graded breach at w2 is its own."""
    from resilience.store.schema import assets as assets_table

    with adb.begin() as c:
        c.execute(assets_table.update().where(assets_table.c.id == "w2").values(attributes={"downstream_of": "w1"}))
    clock = Clock(at(0))
    eng = engine(adb, clock)
    eng.handle(anomaly(sensor="lv1", asset="w1", kind="drainage_level", level=Level.ORANGE, anomaly_id="up", t=0))
    clock.advance(30)
    low = dict(
        sensor="lv2",
        asset="w2",
        kind="drainage_level",
        level=Level.NONE,
        score=1.0,
        anomaly_id="down",
        detector="seasonal",
        value=4.7,
    )
    eng.handle(anomaly(t=30, **low))
    rows = alert_rows(adb)
    assert [a["scope"] for a in rows] == ["asset:w1"]
    assert "anomaly:down" in rows[0]["sources"] and rows[0]["evidence"]["downstream_effect"] == "asset:w2"
    clock.advance(600)
    eng.handle(anomaly(phase=AnomalyPhase.CLOSE, t=630, **low))
    assert "anomaly:down" not in alert_rows(adb)[0]["sources"]
    eng.handle(anomaly(sensor="lv2", asset="w2", kind="drainage_level", level=Level.RED, anomaly_id="over", t=640))
    assert sorted(a["scope"] for a in alert_rows(adb)) == ["asset:w1", "asset:w2"]


def test_asset_alert_cleared_but_not_yet_resolved_does_not_make_a_district_wide(adb: Engine) -> None:
    """A burst hours ago (its alert cleared, waiting out the resolve hold) and a new burst in the same district
    are not a district-wide situation: the new asset's own alert is the one message (seen on a simulated day)."""
    clock = Clock(at(0))
    eng = engine(adb, clock)
    eng.handle(risk("asset:w1", Level.RED, 0, hazard="water_main_burst"))
    eng.handle(risk("district:d1", Level.RED, 0, hazard="water_main_burst"))
    clock.advance(600)
    eng.handle(risk("asset:w1", Level.YELLOW, 600, hazard="water_main_burst", previous=Level.RED))
    rows = {a["scope"]: a for a in alert_rows(adb)}
    assert rows["asset:w1"]["state"] == "firing" and rows["asset:w1"]["cleared_at"] is not None
    clock.advance(600)
    eng.handle(risk("asset:w2", Level.RED, 1200, hazard="water_main_burst"))
    eng.handle(risk("district:d1", Level.RED, 1200, hazard="water_main_burst"))
    rows = {a["scope"]: a for a in alert_rows(adb)}
    assert rows["district:d1"]["inhibited"] is True
    firing = Counter(r["alert_id"] for r in live(adb) if r["kind"] == "firing")
    assert firing == {rows["asset:w1"]["id"]: 1, rows["asset:w2"]["id"]: 1}
