"""Messages carry the value at send time with its timestamp, not the onset value: a leak that fired at 12
%LEL and reads 55 when the (delayed) message goes out says 55 and when it was read, and keeps 12 as onset."""

from __future__ import annotations

import uuid

from sqlalchemy import Engine, insert

from alerts.cap import CapArea, render_cap
from alerts.channels.email import render_text
from alerts.channels.webhook import WebhookChannel
from alerts.consumer import AlertEngine
from alerts.dispatcher import Dispatcher
from alerts.send_values import read_current
from alerts import store
from resilience.core.domain import Level, Reading
from resilience.store.readings import write_readings
from resilience.store.schema import sensors
from resilience.store.timeseries import get_backend
from tests.alerts.helpers import anomaly, at
from tests.alerts.receivers import WebhookReceiver
from tests.alerts.test_engine_db import SECRET, Clock, rules_for
from tests.alerts.test_cap import _check


def _sensor_with_readings(adb: Engine, values: list[tuple[float, float]]) -> str:
    sid = f"sv-{uuid.uuid4().hex[:8]}"
    with adb.begin() as conn:
        conn.execute(
            insert(sensors).values(
                id=sid, asset_id="a1", utility_id="gasco", kind="methane", unit="percent_lel", expected_interval_s=60
            )
        )
        write_readings(conn, [Reading(sid, at(t), v) for t, v in values], get_backend(conn))
    return sid


def test_a_webhook_sent_late_carries_the_value_read_at_send_time(adb: Engine) -> None:
    sid = _sensor_with_readings(adb, [(0, 12.0), (300, 31.0), (600, 55.0)])
    with WebhookReceiver(SECRET) as rx:
        clock = Clock(at(0))
        eng = AlertEngine(adb, None, rules_for(rx.url), now=clock)
        eng.handle(anomaly(level=Level.RED, sensor=sid, value=12.0))
        clock.advance(610)  # the receiver was away; the message goes out ten minutes later
        d = Dispatcher(adb, {"webhook": WebhookChannel(SECRET)}, now=clock)
        assert d.run_once() == 1
    (sent,) = rx.accepted  # signature verified by the receiver over the enriched body
    alert = sent["alert"]
    (now,) = alert["current"]
    assert (now["sensor_id"], now["value"], now["ts"]) == (sid, 55.0, at(600).isoformat())
    assert now["unit_label"] == "%LEL" and now["age_s"] == 10.0
    assert alert["current_read_at"] == at(610).isoformat()
    assert alert["evidence"]["value"] == 12.0  # the onset stays
    subject, body = render_text(sent)
    assert f"{sid}: 55 %LEL @ {at(600).isoformat()}" in body and "at onset" in body


def test_cap_says_the_value_now_with_its_time(adb: Engine) -> None:
    sid = _sensor_with_readings(adb, [(0, 12.0), (900, 48.5)])
    clock = Clock(at(0))
    eng = AlertEngine(adb, None, rules_for("http://127.0.0.1:9/none"), now=clock)
    (a,) = eng.handle(anomaly(level=Level.RED, sensor=sid, value=12.0))
    with adb.connect() as conn:
        alert = store.get_alert(conn, alert_id=a.id)
        assert alert is not None
        current = list(read_current(conn, alert.sensor_ids, at(960)).values())
    root = _check(render_cap(alert, CapArea("Main St", lat=31.0, lon=121.0), current=current))
    ns = "{urn:oasis:names:tc:emergency:cap:1.2}"
    values = [
        p.findtext(f"{ns}value")
        for p in root.iter(f"{ns}parameter")
        if p.findtext(f"{ns}valueName") == "lifeline:value_now"
    ]
    assert values == [f"{sid}: 48.5 %LEL @ {at(900).isoformat()}"] * 2  # one per language block
