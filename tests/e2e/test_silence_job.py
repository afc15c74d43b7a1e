"""The detection worker's scheduled silence check reports a sensor that stops reporting, and only that one."""

from __future__ import annotations

import pytest
import json
import signal
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import text

from tests.registry import register_sensors
from tests.spine.workers import spawn, unique, worker_env
from tests.mqtt_login import platform_login

pytestmark = pytest.mark.slow  # end to end: real worker processes


def test_scheduled_silence_check_reports_silent_sensor(db_engine, db_url, mqtt_broker):
    with db_engine.begin() as conn:
        register_sensors(
            conn,
            utility="sil-u",
            asset="SIL-A",
            asset_kind="utility_tunnel",
            sensor_kind="temperature",
            unit="degC",
            sensor_ids=("SIL-QUIET", "SIL-ALIVE"),
            interval_s=1,
        )
    root = unique("sil")
    env = worker_env(
        db_url,
        RESILIENCE_MQTT_TOPIC_ROOT=root,
        RESILIENCE_MQTT_CLIENT_ID=unique("sil"),
        RESILIENCE_SILENCE_CHECK_S="1",
        RESILIENCE_SILENCE_K="3",
    )
    procs = [
        spawn(["ingest"], env, "sil-ingest", ready="subscribed to"),
        spawn(["detector"], env, "sil-detector", ready="subscribed to"),
    ]
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=unique("sil-pub"), protocol=mqtt.MQTTv5)
    client.username_pw_set(*platform_login())
    client.connect(*mqtt_broker)
    client.loop_start()
    try:
        found: list[str] = []
        deadline = time.monotonic() + 25
        while time.monotonic() < deadline:  # SIL-ALIVE reports every second, SIL-QUIET never
            client.publish(
                f"{root}/sil-u/SIL-ALIVE", json.dumps({"t": time.time(), "v": 21.0 + time.time() % 1}), qos=1
            )
            with db_engine.connect() as conn:
                found = (
                    conn.execute(
                        text(
                            "SELECT payload->>'sensor_id' FROM events WHERE kind = 'sensor_health' "
                            "AND payload->>'status' = 'silent' AND payload->>'sensor_id' LIKE 'SIL-%'"
                        )
                    )
                    .scalars()
                    .all()
                )
            if found and time.monotonic() > deadline - 15:
                break
            time.sleep(1.0)
        assert found == ["SIL-QUIET"], found
    finally:
        client.disconnect()
        client.loop_stop()
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=20)
