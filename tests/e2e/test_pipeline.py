"""The whole loop with real processes: MQTT publish -> ingest -> detection -> risk -> alert -> webhook.

A methane reading at 25 %LEL in a drainage culvert (orange limit 20 %LEL, raised one level for a
culvert, domain.md s9) must reach the utility's webhook as one signed notification, and the asset's
risk must reach at least orange.
"""

from __future__ import annotations

import json
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import insert, text

from resilience.core.settings import get_settings
from resilience.store.schema import assets, districts, sensors, utilities
from tests.alerts.receivers import WebhookReceiver
from tests.spine.workers import spawn, stop_processes, unique, worker_env
from tests.mqtt_login import platform_login

pytestmark = pytest.mark.slow  # end to end: real worker processes


@pytest.fixture(scope="module")
def city(db_engine):
    receiver = WebhookReceiver(get_settings().webhook_secret).start()
    with db_engine.begin() as conn:
        conn.execute(insert(utilities), [{"id": "e2e-gas", "name": "E2E Gas", "webhook_url": receiver.url}])
        conn.execute(
            insert(districts),
            [
                {
                    "id": "E2E-D",
                    "name": "Zhongshan",
                    "population": 40000,
                    "polygon": {
                        "type": "Polygon",
                        "coordinates": [
                            [[120.37, 36.06], [120.39, 36.06], [120.39, 36.08], [120.37, 36.08], [120.37, 36.06]]
                        ],
                    },
                }
            ],
        )
        conn.execute(
            insert(assets),
            [
                {
                    "id": "E2E-CULVERT",
                    "name": "Culvert under Zhongshan Rd",
                    "kind": "drainage_culvert",
                    "district_id": "E2E-D",
                    "utility_id": "e2e-gas",
                    "lat": 36.07,
                    "lon": 120.38,
                    "criticality": 4,
                },
                {
                    "id": "E2E-GASMAIN",
                    "name": "DN300 gas main",
                    "kind": "gas_pipeline",
                    "district_id": "E2E-D",
                    "utility_id": "e2e-gas",
                    "lat": 36.07005,
                    "lon": 120.38005,
                    "criticality": 4,
                },
            ],
        )
        conn.execute(
            insert(sensors),
            [
                {
                    "id": "E2E-CH4",
                    "asset_id": "E2E-CULVERT",
                    "utility_id": "e2e-gas",
                    "kind": "methane",
                    "unit": "percent_lel",
                    "expected_interval_s": 60,
                }
            ],
        )
    yield receiver
    receiver.stop()


def test_methane_breach_reaches_webhook_once_and_raises_risk(city, db_url, db_engine, mqtt_broker):
    receiver = city
    root = unique("e2e")
    env = worker_env(db_url, RESILIENCE_MQTT_TOPIC_ROOT=root, RESILIENCE_MQTT_CLIENT_ID=unique("e2e"))
    procs = [
        spawn(["ingest"], env, "e2e-ingest", ready="subscribed to"),
        spawn(["detector"], env, "e2e-detector", ready="subscribed to"),
        spawn(["engine"], env, "e2e-engine", ready="engine running", timeout=60),
    ]
    try:
        host, port = mqtt_broker
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=unique("e2e-pub"), protocol=mqtt.MQTTv5)
        client.username_pw_set(*platform_login())
        client.connect(host, port)
        client.loop_start()
        now = time.time()
        baseline = [{"t": now - 600 + 60 * i, "v": 0.4 + 0.05 * (i % 3)} for i in range(9)]
        client.publish(f"{root}/e2e-gas/E2E-CH4", json.dumps(baseline), qos=1).wait_for_publish(5)
        time.sleep(1.0)
        sent_at = time.time()
        client.publish(f"{root}/e2e-gas/E2E-CH4", json.dumps({"t": sent_at, "v": 25.0}), qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 30
        while not receiver.accepted and time.monotonic() < deadline:
            time.sleep(0.05)
        assert receiver.accepted, "no webhook notification within 30 s"  # how soon: resilience bench alerts
        note = receiver.accepted[0]
        text_blob = json.dumps(note)
        assert "E2E-CULVERT" in text_blob and "gas_explosion" in text_blob
        assert any(level in text_blob for level in ('"orange"', '"red"'))
        time.sleep(3.0)  # nothing more for the same problem
        gas_alerts = [n for n in receiver.accepted if "E2E-CULVERT" in json.dumps(n) and "firing" in json.dumps(n)]
        assert receiver.duplicates == 0
        deadline = time.monotonic() + 20
        level = None
        while time.monotonic() < deadline:
            with db_engine.connect() as conn:
                level = conn.execute(
                    text(
                        "SELECT level FROM risk_current WHERE scope = 'asset:E2E-CULVERT' AND hazard = 'gas_explosion'"
                    )
                ).scalar()
            if level is not None and level >= 3:
                break
            time.sleep(0.2)
        assert level is not None and level >= 3, f"culvert gas-explosion risk level {level}"
        assert len(gas_alerts) >= 1
        client.disconnect()
        client.loop_stop()
    finally:
        stop_processes(procs)
