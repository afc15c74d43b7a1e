"""Engine + outbox + dispatcher against real PostgreSQL and a real HTTP receiver."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import yaml
from sqlalchemy import Engine, select, update

from alerts.channels.webhook import WebhookChannel
from alerts.config import DEFAULT_RULES_PATH, RulesConfig, parse_rules
from alerts.dispatcher import Dispatcher, DispatcherOptions
from alerts.consumer import AlertEngine
from alerts.store.schema import alerts, notifications, silences
from alerts.silences import Matcher, Silence
from alerts import store
from resilience.core.domain import Level
from resilience.core.events import AnomalyPhase, SensorHealthEvent
from tests.alerts.conftest import set_utility_webhook
from tests.alerts.helpers import anomaly, at
from tests.alerts.receivers import WebhookReceiver, free_port

SECRET = "test-secret"


class Clock:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def __call__(self) -> datetime:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)


def rules_for(
    hook_url: str, boss_url: str | None = None, *, group_wait_s: float = 0, group_interval_s: float = 0
) -> RulesConfig:
    """Default rules sending to test webhooks. Timing defaults to immediate (these tests are about delivery,
    muting and lifecycle); the group_wait tests pass the real values."""
    data = yaml.safe_load(DEFAULT_RULES_PATH.read_text())
    data["defaults"].update(group_wait_s=group_wait_s, group_interval_s=group_interval_s)
    data["receivers"] = [
        {"name": "hook", "type": "webhook", "url": hook_url},
        {"name": "boss", "type": "webhook", "url": boss_url or hook_url + "/boss"},
    ]
    data["routes"] = [{"receivers": ["hook"]}]
    data["escalations"] = [{"name": "red", "levels": ["red"], "ack_within_s": 300, "tiers": [["boss"]]}]
    data["defaults"]["delivery_failure_receivers"] = ["hook"]
    return parse_rules(data)


def rows(engine: Engine, **where: object) -> list[dict]:
    q = select(notifications).order_by(notifications.c.id)
    for k, v in where.items():
        q = q.where(notifications.c[k] == v)
    with engine.connect() as c:
        return [dict(r._mapping) for r in c.execute(q)]


def alert_row(engine: Engine, **where: object) -> dict:
    q = select(alerts)
    for k, v in where.items():
        q = q.where(alerts.c[k] == v)
    with engine.connect() as c:
        return dict(c.execute(q).one()._mapping)


def test_commit_then_crash_before_send_delivers_exactly_once_by_key(adb: Engine) -> None:
    with WebhookReceiver(SECRET) as rx:
        clock = Clock(at(0))
        eng = AlertEngine(adb, None, rules_for(rx.url), now=clock)
        eng.handle(anomaly(level=Level.ORANGE))
        eng.handle(anomaly(level=Level.ORANGE))  # the event log redelivers: no second notification
        pending = rows(adb, status="pending")
        assert len(pending) == 1 and pending[0]["payload"]["alert"]["level"] == "orange"
        opts = DispatcherOptions(lease_s=30, backoff_initial_s=0.1)
        d1 = Dispatcher(adb, {"webhook": WebhookChannel(SECRET)}, now=clock, options=opts)
        claimed = d1.claim()  # committed lease ... and the process dies before sending
        assert len(claimed) == 1 and rx.requests == 0
        d2 = Dispatcher(adb, {"webhook": WebhookChannel(SECRET)}, now=clock, options=opts)
        assert d2.run_once() == 0  # lease still held by the dead dispatcher
        clock.advance(31)
        assert d2.run_once() == 1
        # Crash after sending but before recording: the retry carries the same key and the receiver drops it.
        eng.handle(anomaly(level=Level.RED, t=40))
        c = d2.claim()[0]
        assert d2.send(c) == ("delivered", None)
        clock.advance(31)
        assert d2.run_once() == 1
        assert [m["alert"]["level"] for m in rx.accepted] == ["orange", "red"]
        assert rx.duplicates == 1
        assert {r["status"] for r in rows(adb)} == {"delivered"}


def test_receiver_down_for_a_while_still_gets_the_alert(adb: Engine) -> None:
    port = free_port()
    rx = WebhookReceiver(SECRET, port=port)
    eng = AlertEngine(adb, None, rules_for(rx.url))
    eng.handle(anomaly(level=Level.YELLOW))
    opts = DispatcherOptions(backoff_initial_s=0.2, backoff_factor=2.0, backoff_max_s=1.0, poll_interval_s=0.05)
    d = Dispatcher(adb, {"webhook": WebhookChannel(SECRET)}, options=opts)
    stop = threading.Event()
    worker = threading.Thread(target=d.run_forever, args=(stop,), daemon=True)
    worker.start()
    try:
        time.sleep(3.0)  # receiver down: several failed attempts with growing backoff
        row = rows(adb)[0]
        assert row["status"] == "pending" and row["attempts"] >= 3 and "ConnectError" in (row["last_error"] or "")
        rx.start()
        deadline = time.monotonic() + 10
        while rows(adb)[0]["status"] != "delivered" and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        worker.join(5)
        rx.stop()
    assert rows(adb)[0]["status"] == "delivered"
    assert len(rx.accepted) == 1


def test_receiver_down_for_30_s_gets_the_alert_on_the_default_backoff(adb: Engine) -> None:
    """Issue 5: a receiver down for 30 s still gets it, with the zero-config retry schedule (1, 2, 4 ... s).

    The receiver is really down (nothing listens on its port); the dispatcher's clock is stepped so the
    test does not wait out the backoff."""
    port = free_port()
    rx = WebhookReceiver(SECRET, port=port)
    clock = Clock(at(0))
    eng = AlertEngine(adb, None, rules_for(rx.url), now=clock)
    eng.handle(anomaly(level=Level.YELLOW))
    d = Dispatcher(adb, {"webhook": WebhookChannel(SECRET)}, now=clock)  # DispatcherOptions() defaults
    tries: list[float] = []
    try:
        for second in range(0, 61):
            clock.t = at(second)
            if second == 30:
                rx.start()  # back after 30 s down
            before = rows(adb)[0]["attempts"]
            d.run_once()
            row = rows(adb)[0]
            if row["attempts"] > before:
                tries.append(second)
            if row["status"] == "delivered":
                break
    finally:
        rx.stop()
    assert tries == [0, 1, 3, 7, 15, 31]  # five failures on the way, delivered on the first try after 30 s
    assert rows(adb)[0]["status"] == "delivered" and rows(adb)[0]["attempts"] == 6
    assert len(rx.accepted) == 1


def test_permanent_failure_is_final_visible_and_raises_its_own_alert(adb: Engine) -> None:
    with WebhookReceiver(SECRET) as rx:
        clock = Clock(at(0))
        eng = AlertEngine(adb, None, rules_for(rx.url), now=clock)
        eng.handle(anomaly(level=Level.YELLOW))
        d = Dispatcher(adb, {"webhook": WebhookChannel("wrong-secret")}, now=clock)  # receiver answers 401
        d.run_once()
        failed = rows(adb, status="failed")
        assert len(failed) == 1 and "401" in failed[0]["last_error"]
        res = eng.tick()
        assert res.delivery_failures == 1
        meta = alert_row(adb, rule="delivery_failed")
        assert meta["state"] == "firing" and "401" in meta["explanation"]
        assert eng.tick().delivery_failures == 0  # raised once
        assert any(r["payload"]["alert"]["rule"] == "delivery_failed" for r in rows(adb, status="pending"))


def test_silence_stores_alert_flagged_and_notifies_after_expiry(adb: Engine) -> None:
    clock = Clock(at(0))
    eng = AlertEngine(adb, None, rules_for("http://127.0.0.1:9/hook"), now=clock)
    with adb.begin() as conn:
        sid = store.insert_silence(
            conn,
            Silence(
                (Matcher("asset_id", "a1"), Matcher("hazard", "gas_explosion")),
                at(-60),
                at(600),
                "ops",
                "valve maintenance",
            ),
            clock(),
        )
    eng.handle(anomaly(level=Level.ORANGE))
    a = alert_row(adb, asset_id="a1")
    assert a["silenced"] is True and a["state"] == "firing"
    assert rows(adb) == []
    with adb.begin() as conn:  # expire by hand (the API does the same)
        conn.execute(update(silences).where(silences.c.id == sid).values(ends_at=at(100)))
    clock.advance(120)
    eng.tick()
    assert alert_row(adb, asset_id="a1")["silenced"] is False
    assert len(rows(adb)) == 1


def test_silent_sensor_inhibits_its_anomaly_alert(adb: Engine) -> None:
    clock = Clock(at(0))
    eng = AlertEngine(adb, None, rules_for("http://127.0.0.1:9/hook"), now=clock)
    eng.handle(SensorHealthEvent(sensor_id="s1", asset_id="a1", sensor_kind="methane", status="silent", ts=at(0)))
    eng.handle(anomaly(sensor="s1", level=Level.YELLOW, t=10))
    gas = alert_row(adb, rule="gas_leak")
    assert gas["inhibited"] is True
    assert {r["payload"]["alert"]["rule"] for r in rows(adb)} == {"sensor_silent"}
    # the sensor recovers: the anomaly alert is no longer inhibited and now notifies
    eng.handle(SensorHealthEvent(sensor_id="s1", asset_id="a1", sensor_kind="methane", status="ok", ts=at(20)))
    eng.tick()
    assert alert_row(adb, rule="gas_leak")["inhibited"] is False
    assert "gas_leak" in {r["payload"]["alert"]["rule"] for r in rows(adb)}


def test_district_storm_groups_drainage_alerts_into_one_notification(adb: Engine) -> None:
    from resilience.core.events import RiskLevelEvent

    clock = Clock(at(0))
    eng = AlertEngine(adb, None, rules_for("http://127.0.0.1:9/hook"), now=clock)
    eng.handle(
        RiskLevelEvent(
            scope="district:d1",
            hazard="waterlogging",
            previous=Level.YELLOW,
            level=Level.ORANGE,
            score=0.8,
            ts=at(0),
            district_id="d1",
            factors=[{"name": "driver", "detail": "district rainfall 62 mm/h (orange)"}],
        )
    )
    eng.handle(anomaly(sensor="lv1", asset="w1", kind="drainage_level", level=Level.YELLOW, anomaly_id="x1"))
    eng.handle(anomaly(sensor="lv2", asset="w2", kind="drainage_level", level=Level.ORANGE, anomaly_id="x2"))
    storm = alert_row(adb, rule="district_risk")
    assert alert_row(adb, asset_id="w1")["parent_fingerprint"] == storm["fingerprint"]
    assert [r["payload"]["alert"]["rule"] for r in rows(adb)] == ["district_risk"]
    eng.tick()
    assert len(rows(adb)) == 1


def test_red_unacknowledged_escalates_to_next_tier_once(adb: Engine) -> None:
    clock = Clock(at(0))
    eng = AlertEngine(adb, None, rules_for("http://127.0.0.1:9/hook", "http://127.0.0.1:9/boss"), now=clock)
    eng.handle(anomaly(level=Level.RED))
    clock.advance(299)
    assert eng.tick().escalated == 0
    clock.advance(1)
    assert eng.tick().escalated == 1
    esc = rows(adb, kind="escalation")
    assert len(esc) == 1 and esc[0]["receiver"] == "boss" and esc[0]["target"].endswith("/boss")
    clock.advance(10_000)
    assert eng.tick().escalated == 0  # only one tier configured
    assert alert_row(adb, rule="gas_leak")["escalation_tier"] == 1


def test_acknowledged_red_does_not_escalate(adb: Engine) -> None:
    from alerts.service import AlertService

    clock = Clock(at(0))
    rules = rules_for("http://127.0.0.1:9/hook")
    eng = AlertEngine(adb, None, rules, now=clock)
    (alert,) = eng.handle(anomaly(level=Level.RED))
    with adb.begin() as conn:
        AlertService(conn, rules, at(60)).acknowledge(alert.id, by="wang", note="crew sent")
    clock.advance(3600)
    assert eng.tick().escalated == 0


def test_auto_resolve_after_hold_and_resolved_notification(adb: Engine) -> None:
    clock = Clock(at(0))
    eng = AlertEngine(adb, None, rules_for("http://127.0.0.1:9/hook"), now=clock)
    eng.handle(anomaly(level=Level.YELLOW))
    eng.handle(anomaly(phase=AnomalyPhase.CLOSE, t=60))
    hold = eng.rules.resolve_after("gas_leak")
    clock.t = at(60 + hold - 1)
    assert eng.tick().resolved == 0
    clock.t = at(60 + hold)
    assert eng.tick().resolved == 1
    a = alert_row(adb, rule="gas_leak")
    assert a["state"] == "resolved" and a["resolved_by"] == "system"
    assert [r["payload"]["status"] for r in rows(adb)] == ["firing", "resolved"]
    # re-firing reopens the same alert with a counter and notifies again
    eng.handle(anomaly(level=Level.YELLOW, anomaly_id="x2", t=60 + hold + 10))
    a = alert_row(adb, rule="gas_leak")
    assert a["state"] == "firing" and a["fire_count"] == 2
    assert [r["payload"]["status"] for r in rows(adb)] == ["firing", "resolved", "firing"]


def test_responsible_unit_receiver_uses_utility_webhook(adb: Engine) -> None:
    data = yaml.safe_load(DEFAULT_RULES_PATH.read_text())
    data["routes"] = [{"receivers": ["responsible_unit"]}]
    data["escalations"] = []
    set_utility_webhook(adb, "gasco", "http://gasco.example/hook", "duty@gasco.example")
    try:
        eng = AlertEngine(adb, None, parse_rules(data), now=lambda: at(0))
        eng.handle(anomaly(level=Level.YELLOW))
        assert sorted((r["channel"], r["target"]) for r in rows(adb)) == [
            ("email", "duty@gasco.example"),
            ("webhook", "http://gasco.example/hook"),
        ]
    finally:
        set_utility_webhook(adb, "gasco", None)
