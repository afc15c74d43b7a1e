"""MQTT ingestion end to end: real Mosquitto, the real worker process, values read back over HTTP."""

from __future__ import annotations

import json
import signal
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import text

from tests.spine.workers import spawn, unique, worker_env
from tests.mqtt_login import platform_login


def _wait(predicate, timeout: float = 30.0, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    return predicate()


@pytest.fixture()
def topic_root() -> str:
    return unique("lifeline-t")


@pytest.fixture()
def ingest_worker(db_url, mqtt_broker, registry, topic_root):
    env = worker_env(db_url, RESILIENCE_MQTT_TOPIC_ROOT=topic_root, RESILIENCE_MQTT_CLIENT_ID=unique("ingest"))
    procs = []

    def start():
        p = spawn(["ingest"], env, "ingest-worker", ready="subscribed to")
        procs.append(p)
        return p

    yield start
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=20)


def _publish_raw(host: str, port: int, items: list[tuple[str, str]]) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=unique("pub"), protocol=mqtt.MQTTv5)
    client.username_pw_set(*platform_login())
    client.connect(host, port)
    client.loop_start()
    infos = [client.publish(topic, payload, qos=1) for topic, payload in items]
    for info in infos:
        info.wait_for_publish(timeout=10)
    client.disconnect()
    client.loop_stop()


def _values(api_client, sensor: str, since: float, until: float) -> list[float]:
    fmt = "%Y-%m-%dT%H:%M:%S+00:00"
    r = api_client.get(
        f"/api/v1/sensors/{sensor}/readings",
        params={"start": time.strftime(fmt, time.gmtime(since)), "end": time.strftime(fmt, time.gmtime(until))},
    )
    return [row["value"] for row in r.json()["data"]]


def test_senml_and_plain_json_over_mqtt_read_back_over_http(
    ingest_worker, mqtt_broker, api_client, topic_root, db_engine
):
    worker = ingest_worker()
    host, port = mqtt_broker
    t0 = float(int(time.time()) - 500)  # a minute of its own, clear of other tests' readings
    senml = json.dumps([{"bn": "", "bt": t0, "bu": "%LEL", "n": "CH4-1", "v": 2.0}, {"n": "CH4-1", "t": 10, "v": 3.5}])
    plain = json.dumps([{"t": t0 + 1, "v": 0.41}, {"t": t0 + 11, "v": 0.39}])
    bad = '{"t": 1, "v": '
    _publish_raw(
        host,
        port,
        [(f"{topic_root}/gasco", senml), (f"{topic_root}/waterco/P-1", plain), (f"{topic_root}/waterco/P-1", bad)],
    )
    assert _wait(lambda: _values(api_client, "CH4-1", t0 - 1, t0 + 12) == [2.0, 3.5], timeout=20), (
        f"SenML not stored: {_values(api_client, 'CH4-1', t0 - 1, t0 + 12)}"
    )
    assert _wait(lambda: _values(api_client, "P-1", t0 - 1, t0 + 12) == [0.41, 0.39], timeout=20)
    with db_engine.connect() as conn:
        letter = conn.execute(
            text("SELECT * FROM dead_letters WHERE topic = :t"), {"t": f"{topic_root}/waterco/P-1"}
        ).one()
    assert letter.transport == "mqtt" and "malformed JSON" in letter.reason and letter.payload == bad
    assert worker.poll() is None


@pytest.mark.slow  # fault injection: 20,000 readings, a SIGKILL mid-stream
def test_sigkill_during_20000_qos1_readings_stores_each_exactly_once(
    ingest_worker, mqtt_broker, db_engine, topic_root, db_url
):
    host, port = mqtt_broker
    # A sensor of its own so the count is exact.
    with db_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO sensors (id, asset_id, utility_id, kind, unit, expected_interval_s) "
                "VALUES ('KILL-1', 'A-MAIN', 'waterco', 'water_flow', 'm**3/h', 1) ON CONFLICT DO NOTHING"
            )
        )
    worker = ingest_worker()
    start = time.time() - 3600
    import subprocess
    import sys

    pub = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "resilience.bench.publisher",
            "--port",
            str(port),
            "--host",
            host,
            "--root",
            topic_root,
            "--utility",
            "waterco",
            "--sensors",
            "KILL-1",
            "--count",
            "20000",
            "--pack",
            "1",
            "--start",
            str(start),
            "--step",
            "0.01",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )

    def stored() -> int:
        with db_engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM readings WHERE sensor_id = 'KILL-1'")).scalar_one()

    assert _wait(lambda: stored() > 2000, timeout=60), "worker stored nothing"
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    killed_at = stored()
    out, _ = pub.communicate(timeout=300)
    assert json.loads(out.splitlines()[-1])["acked"] == 20000  # the broker accepted every message
    assert killed_at < 20000, "worker finished before the kill; the test proves nothing"
    ingest_worker()  # restart with the same client id: the broker redelivers the persistent session's queue
    assert _wait(lambda: stored() >= 20000, timeout=120), f"only {stored()} of 20000 stored after restart"
    time.sleep(1.0)
    with db_engine.connect() as conn:
        n, distinct, lo, hi = conn.execute(
            text("SELECT count(*), count(DISTINCT ts), min(ts), max(ts) FROM readings WHERE sensor_id = 'KILL-1'")
        ).one()
    assert n == 20000 and distinct == 20000
    assert abs(lo.timestamp() - start) < 1e-3 and abs(hi.timestamp() - (start + 19999 * 0.01)) < 1e-3
