"""The detection worker's scheduled silence check reports a sensor that stops reporting, and only that one."""

from __future__ import annotations

import json
import signal
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import text

from tests.spine.workers import spawn, unique, worker_env


def test_scheduled_silence_check_reports_silent_sensor(db_engine, db_url, mqtt_broker):
    with db_engine.begin() as conn:
        conn.execute(text("INSERT INTO utilities (id, name) VALUES ('sil-u', 'Silence Co') ON CONFLICT DO NOTHING"))
        conn.execute(text("INSERT INTO assets (id, name, kind, lat, lon, utility_id) VALUES ('SIL-A', 'Tunnel', "
                          "'utility_tunnel', 36.0, 120.0, 'sil-u') ON CONFLICT DO NOTHING"))
        for sid in ("SIL-QUIET", "SIL-ALIVE"):
            conn.execute(text("INSERT INTO sensors (id, asset_id, utility_id, kind, unit, expected_interval_s) "
                              "VALUES (:s, 'SIL-A', 'sil-u', 'temperature', 'degC', 1) ON CONFLICT DO NOTHING"),
                         {"s": sid})
    root = unique("sil")
    env = worker_env(db_url, RESILIENCE_MQTT_TOPIC_ROOT=root, RESILIENCE_MQTT_CLIENT_ID=unique("sil"),
                     RESILIENCE_SILENCE_CHECK_S="1", RESILIENCE_SILENCE_K="3")
    procs = [spawn(["ingest"], env, "sil-ingest", ready="subscribed to"),
             spawn(["detector"], env, "sil-detector", ready="subscribed to")]
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=unique("sil-pub"), protocol=mqtt.MQTTv5)
    client.connect(*mqtt_broker)
    client.loop_start()
    try:
        found: list[str] = []
        deadline = time.monotonic() + 25
        while time.monotonic() < deadline:  # SIL-ALIVE reports every second, SIL-QUIET never
            client.publish(f"{root}/sil-u/SIL-ALIVE", json.dumps({"t": time.time(), "v": 21.0 + time.time() % 1}),
                           qos=1)
            with db_engine.connect() as conn:
                found = conn.execute(text(
                    "SELECT payload->>'sensor_id' FROM events WHERE kind = 'sensor_health' "
                    "AND payload->>'status' = 'silent' AND payload->>'sensor_id' LIKE 'SIL-%'")).scalars().all()
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
