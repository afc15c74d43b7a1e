"""MQTT delivery to a real broker, and the evaluate command on stored alerts."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine

from alerts.channels.base import Message, RetryableError
from alerts.channels.mqtt import MqttChannel, topic_for
from alerts.cli import register
from alerts.consumer import AlertEngine
from alerts.api_support import get_rules
from resilience.core.domain import Level

from tests.alerts.helpers import T0, anomaly, at
from tests.alerts.receivers import free_port
from tests.mqtt_login import platform_login


def test_mqtt_publishes_qos1_to_district_level_topic(mqtt_broker: tuple[str, int]) -> None:
    host, port = mqtt_broker
    got: list[mqtt.MQTTMessage] = []
    ready, arrived = threading.Event(), threading.Event()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="alerts-test-sub")
    sub.on_connect = lambda c, u, f, rc, p: c.subscribe("alerts/#", qos=1)
    sub.on_subscribe = lambda *a: ready.set()
    sub.on_message = lambda c, u, m: (got.append(m), arrived.set())
    sub.username_pw_set(*platform_login("alerts-reader"))
    sub.connect(host, port)
    sub.loop_start()
    try:
        assert ready.wait(5)
        ch = MqttChannel(host, port, client_id="alerts-test-pub")
        topic = topic_for("d1", "red")
        assert topic == "alerts/d1/red"
        ch.send(Message("mqtt", topic, {"status": "firing", "alert": {"id": 7}}, "k1"))
        assert arrived.wait(5)
        assert got[0].topic == "alerts/d1/red" and got[0].qos == 1
        assert json.loads(got[0].payload)["alert"]["id"] == 7
        ch.close()
    finally:
        sub.loop_stop()
        sub.disconnect()
    with pytest.raises(RetryableError):
        MqttChannel("127.0.0.1", free_port(), timeout_s=1).send(Message("mqtt", "alerts/x/red", {}, "k"))


def test_evaluate_scores_caught_late_and_false_alerts(adb: Engine, tmp_path: Path, capsys) -> None:
    eng = AlertEngine(adb, None, get_rules(), now=lambda: at(0))
    eng.handle(anomaly(asset="a1", sensor="s1", level=Level.YELLOW, t=120))  # incident 1, 120 s after onset
    eng.handle(
        anomaly(asset="w1", sensor="lv1", kind="drainage_level", level=Level.YELLOW, t=3600, anomaly_id="z")
    )  # nothing happened there: a false alert
    truth = [
        {
            "incident_id": "i1",
            "type": "leak",
            "hazard": "gas_explosion",
            "asset_id": "a1",
            "sensor_ids": ["s1"],
            "district_id": "d1",
            "start": T0.isoformat(),
            "end": at(1800).isoformat(),
        },
        {
            "incident_id": "i2",
            "type": "burst",
            "hazard": "water_main_burst",
            "asset_id": "x9",
            "sensor_ids": [],
            "district_id": "d2",
            "start": at(7200).isoformat(),
            "end": at(9000).isoformat(),
        },
    ]
    path = tmp_path / "truth.json"
    path.write_text(json.dumps(truth))
    import argparse

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(
        [
            "evaluate",
            "--truth",
            str(path),
            "--days",
            "1",
            "--database-url",
            adb.url.render_as_string(hide_password=False),
        ]
    )
    assert args.func(args) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    head = (
        "incidents=2 caught=1 median_tta_s=120.0 worst_tta_s=120.0 false_per_day=1.0 max_notifications_per_incident=1 "
        "alerts_per_incident=1.0 "
    )
    assert last.startswith(head)
    # the truth and forecast keys follow (scored in tests/alerts/test_evaluate_truth.py and the forecast tests)
    tail = dict(kv.split("=", 1) for kv in last[len(head) :].split())
    assert list(tail) == [
        "resolved_while_active",
        "state_agreement",
        "value_staleness_p99_s",
        "lead_time_median_s",
        "forecast_false_share",
    ]
    assert tail["resolved_while_active"] == "0"  # nobody resolved anything here
