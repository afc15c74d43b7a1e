"""A red-level reading raises an anomaly and a red alert whichever way it arrives: over MQTT or over HTTP.

Both transports store through the same pipeline, whose transaction also writes the hand-off that the
detector consumes, so an HTTP utility gets detection, risk and alerts exactly like an MQTT one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from subprocess import Popen

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine, text

from tests.registry import handed_readings, register_sensors
from tests.spine.workers import spawn, stop_processes, unique, worker_env
from tests.mqtt_login import platform_login

pytestmark = pytest.mark.slow  # end to end: real worker processes


@pytest.fixture(scope="module")
def platform(db_url: str, db_engine: Engine) -> Iterator[str]:
    root = unique("both")
    env = worker_env(db_url, RESILIENCE_MQTT_TOPIC_ROOT=root, RESILIENCE_MQTT_CLIENT_ID=unique("both"))
    with db_engine.begin() as conn:
        for transport in ("mqtt", "http"):
            register_sensors(
                conn,
                utility=f"both-{transport}",
                asset=f"BOTH-CULVERT-{transport}",
                asset_kind="utility_tunnel",
                sensor_kind="methane",
                unit="percent_lel",
                sensor_ids=(f"BOTH-CH4-{transport}",),
                interval_s=60,
            )
    procs: list[Popen[bytes]] = [
        spawn(["ingest"], env, "both-ingest", ready="subscribed to"),
        spawn(["detector"], env, "both-detector", ready="subscribed to"),
        spawn(["engine"], env, "both-engine", ready="engine running", timeout=60),
    ]
    yield root
    stop_processes(procs)


def _send(transport: str, root: str, mqtt_broker: tuple[str, int], api_client, readings: list[dict]) -> None:  # type: ignore[no-untyped-def]
    sensor, utility = f"BOTH-CH4-{transport}", f"both-{transport}"
    if transport == "http":
        r = api_client.post(
            "/api/v1/ingest",
            params={"sensor_id": sensor},
            content=json.dumps(readings),
            headers={"X-Utility-Id": utility, "Content-Type": "application/json"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["accepted"] == len(readings)
        return
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=unique("both-pub"), protocol=mqtt.MQTTv5)
    client.username_pw_set(*platform_login())
    client.connect(*mqtt_broker)
    client.loop_start()
    client.publish(f"{root}/{utility}/{sensor}", json.dumps(readings), qos=1).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


def _wait(predicate, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return predicate()


@pytest.mark.parametrize("transport", ["mqtt", "http"])
def test_red_methane_reading_raises_anomaly_and_red_alert(
    platform,
    transport,
    mqtt_broker,
    api_client,  # type: ignore[no-untyped-def]
    db_engine,
):
    now = time.time()
    baseline = [{"t": now - 600 + 60 * i, "v": 0.4 + 0.05 * (i % 3)} for i in range(9)]
    _send(transport, platform, mqtt_broker, api_client, baseline)
    _send(transport, platform, mqtt_broker, api_client, [{"t": now, "v": 60.0}])  # red: 50 %LEL and above
    sensor, asset = f"BOTH-CH4-{transport}", f"BOTH-CULVERT-{transport}"

    def anomaly_level() -> int | None:
        with db_engine.connect() as conn:
            return conn.execute(text("SELECT max(level) FROM anomalies WHERE sensor_id = :s"), {"s": sensor}).scalar()

    def alert_level() -> int | None:
        with db_engine.connect() as conn:
            return conn.execute(
                text("SELECT max(level) FROM alerts WHERE asset_id = :a AND state = 'firing'"), {"a": asset}
            ).scalar()

    assert _wait(lambda: (anomaly_level() or 0) >= 4), f"{transport}: anomaly level {anomaly_level()}"
    assert _wait(lambda: (alert_level() or 0) >= 4), f"{transport}: alert level {alert_level()}"
    with db_engine.connect() as conn:
        handed = handed_readings(conn, sensor)
    assert handed == 10  # every stored reading handed to detection once
