"""A red alert never waits behind a flood: the alert consumer's priority lane (resilience.store.event_lanes).

The consumer is the production one (EventConsumer with the alert engine's batch handler, as in
``resilience.runtime.engine_process``), against the real database and a real webhook receiver. Order is
asserted, never time: how long a red takes behind a flood is ``resilience bench alerts`` (red_behind_flood_ms).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select, text

from alerts.channels.webhook import WebhookChannel
from alerts.consumer import AlertEngine
from alerts.dispatcher import Dispatcher
from alerts.store.schema import alert_transitions, alerts
from resilience.core.domain import Level
from resilience.core.events import AnomalyPhase, EventKind
from resilience.store.eventlog import EventConsumer, PgEventLog
from tests.alerts.helpers import anomaly
from tests.alerts.receivers import WebhookReceiver
from tests.alerts.test_engine_db import SECRET, rules_for

ALERT_KINDS = {EventKind.ANOMALY, EventKind.SENSOR_HEALTH, EventKind.RISK_LEVEL, EventKind.PLATFORM_HEALTH}


@pytest.fixture()
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET) as rx:
        yield rx


def _consumer(adb: Engine, eng: AlertEngine, *, lane: int) -> EventConsumer:
    c = EventConsumer(
        adb,
        f"alerts-test-{uuid.uuid4().hex[:8]}",
        eng.handle_in,
        batch=50,
        handle_batch=eng.handle_batch_in,
        kinds=ALERT_KINDS,
        lane_lookahead=lane,
    )
    c.start_from_now()
    return c


def _flood(n: int, tag: str = "") -> list:  # type: ignore[type-arg]
    """Low-level anomalies on the drainage well w1, each its own sensor and anomaly."""
    return [
        anomaly(
            asset="w1", sensor=f"w1-s{i}", kind="drainage_level", level=Level.BLUE, anomaly_id=f"flood{tag}{i}", t=i
        )
        for i in range(n)
    ]


def _levels(adb: Engine) -> dict[str, tuple[int, str]]:
    with adb.connect() as conn:
        rows = conn.execute(select(alerts.c.fingerprint, alerts.c.level, alerts.c.state)).all()
    return {r.fingerprint: (int(r.level), r.state) for r in rows}


def test_a_red_behind_a_thousand_low_events_is_handled_and_delivered_first(
    adb: Engine, receiver: WebhookReceiver
) -> None:
    eng = AlertEngine(adb, None, rules_for(receiver.url))
    consumer = _consumer(adb, eng, lane=5000)
    log = PgEventLog(adb)
    log.publish_many(_flood(1000))
    log.publish(anomaly(asset="a1", sensor="s1", level=Level.RED, anomaly_id="gas-red", t=2000, value=55.0))

    assert consumer.run_once() == 1  # the lane: the red alone, before any of the thousand
    assert [lvl for lvl, _ in _levels(adb).values()] == [int(Level.RED)]
    Dispatcher(adb, {"webhook": WebhookChannel(SECRET)}).run_once()
    assert [m["alert"]["level"] for m in receiver.accepted] == ["red"]

    while consumer.run_once():  # then the flood, in order
        pass
    with adb.connect() as conn:
        fired = (
            conn.execute(select(alert_transitions.c.alert_id).where(alert_transitions.c.kind == "fired"))
            .scalars()
            .all()
        )
        left = conn.execute(
            text("SELECT count(*) FROM event_lane_done WHERE consumer = :c"), {"c": consumer.name}
        ).scalar()
        processed = conn.execute(
            text("SELECT processed FROM event_cursors WHERE consumer = :c"), {"c": consumer.name}
        ).scalar()
    assert len(fired) == len(set(fired))  # every alert fired once: the red was not handled again in order
    assert int(Level.BLUE) in {lvl for lvl, _ in _levels(adb).values()}  # the flood was handled too
    assert left == 0  # the cursor passed the red: its lane record is gone
    assert processed == 1001


def test_an_urgent_event_does_not_overtake_an_earlier_event_of_its_own_asset(adb: Engine) -> None:
    """a1 opens yellow, a flood follows, then a1 closes and re-opens red: taken in log order, not early,
    because an update that overtook the earlier event for the same asset could be undone by it."""
    eng = AlertEngine(adb, None, rules_for("http://127.0.0.1:9/hook"))
    consumer = _consumer(adb, eng, lane=5000)
    log = PgEventLog(adb)
    log.publish(anomaly(asset="a1", level=Level.YELLOW, anomaly_id="gas-1", t=0))
    log.publish_many(_flood(120))
    log.publish(anomaly(asset="a1", level=Level.YELLOW, anomaly_id="gas-1", t=500, phase=AnomalyPhase.CLOSE))
    log.publish(anomaly(asset="a1", level=Level.RED, anomaly_id="gas-2", t=600))

    assert consumer.run_once() == 50  # in order: nothing about a1 may go first
    while consumer.run_once():
        pass
    with adb.connect() as conn:
        a1 = conn.execute(select(alerts.c.level, alerts.c.state).where(alerts.c.asset_id == "a1")).all()
    assert [(int(lvl), state) for lvl, state in a1] == [(int(Level.RED), "firing")]


def test_the_lane_gives_the_same_alerts_as_strict_order(adb: Engine) -> None:
    """Same events through a laned and a strict consumer of the same log: the same alerts at the end."""
    eng = AlertEngine(adb, None, rules_for("http://127.0.0.1:9/hook"))
    laned = _consumer(adb, eng, lane=5000)
    tag = uuid.uuid4().hex[:8]
    events = _flood(200, tag)
    events.insert(60, anomaly(asset="a1", level=Level.ORANGE, anomaly_id="gas-o", t=60))
    events.insert(150, anomaly(asset="a1", level=Level.RED, anomaly_id="gas-o", t=150, phase=AnomalyPhase.UPDATE))
    PgEventLog(adb).publish_many(events)
    while laned.run_once():
        pass
    with_lane = _levels(adb)
    with adb.begin() as conn:
        conn.execute(text("TRUNCATE alerts, alert_transitions, notifications RESTART IDENTITY CASCADE"))
    strict = EventConsumer(
        adb,
        f"strict-{uuid.uuid4().hex[:8]}",
        eng.handle_in,
        batch=50,
        handle_batch=eng.handle_batch_in,
        kinds=ALERT_KINDS,
    )
    with adb.begin() as conn:  # the strict consumer starts where the laned one did
        first = conn.execute(
            text("SELECT min(seq) - 1 FROM events WHERE payload->>'anomaly_id' = :a"), {"a": f"flood{tag}0"}
        )
        conn.execute(
            text("INSERT INTO event_cursors (consumer, last_seq) VALUES (:c, :s)"),
            {"c": strict.name, "s": first.scalar()},
        )
    while strict.run_once():
        pass
    assert _levels(adb) == with_lane
