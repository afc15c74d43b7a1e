"""Poison messages over the real broker: each becomes a dead letter with a reason, and the stream goes on.

Found by trying it: one of these stopped all ingestion (the prepare thread died, the process stayed up,
and the unacknowledged message came back after every restart). Now each is a dead letter with a reason,
the worker keeps committing the readings sent after it, and the same holds after a restart.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import text

from tests.reliability.conftest import Rig, wait_for
from tests.spine.workers import unique
from tests.mqtt_login import platform_login

pytestmark = pytest.mark.slow  # fault injection on real worker processes

POISONS: dict[str, tuple[str, bytes, str]] = {
    # name: (topic suffix, payload, a phrase of the dead letter's reason); {t} is a recent epoch second (plain
    # JSON needs the device's own absolute time, so the unit is what is wrong)
    "value_of_400_digits": ("{sensor}", b'[{"n":"{sensor}","v":' + b"1" * 400 + b"}]", "digits"),
    "integer_of_5000_digits": ("{sensor}", b'{"t":1,"v":' + b"7" * 5000 + b"}", "digits"),
    "nesting_100000_deep": ("{sensor}", b"[" * 100_000 + b"]" * 100_000, "nested"),
    "unit_open_paren": ("{sensor}", b'{"t":{t},"v":1,"u":"("}', "wrong unit"),
    "unit_division_by_zero": ("{sensor}", b'{"t":{t},"v":1,"u":"1/0"}', "wrong unit"),
    "unit_dangling_power": ("{sensor}", b'{"t":{t},"v":1,"u":"kPa**"}', "wrong unit"),
    "unit_tower_of_powers": ("{sensor}", b'{"t":{t},"v":1,"u":"9**9**9"}', "wrong unit"),
    "name_over_64_chars": ("", b'[{"n":"' + b"S" * 80 + b'","v":1}]', "longer than 64"),
    "lone_surrogate_name": ("", b'[{"n":"\\ud800","v":1}]', "surrogate"),
    "nul_byte_in_payload": ("{sensor}", b'{"t":1,"v":1\x00}', "malformed JSON"),
    "nul_in_unit": ("{sensor}", b'{"t":{t},"v":1,"u":"kPa\\u0000"}', "wrong unit"),
    "empty_utility_level": ("//{sensor}", b'{"v":1}', "empty"),
}


@pytest.fixture(scope="module")
def stream(rel_url, rel_engine, mqtt_broker) -> Iterator[Rig]:  # type: ignore[no-untyped-def]
    rig = Rig(rel_url, rel_engine, *mqtt_broker)
    rig.start("ingest")
    yield rig
    rig.stop_all()


def _publish(rig: Rig, items: list[tuple[str, bytes]]) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=unique("poison-pub"), protocol=mqtt.MQTTv5)
    client.username_pw_set(*platform_login())  # it publishes malformed topics under the root too
    client.connect(rig.host, rig.port)
    client.loop_start()
    for topic, payload in items:
        client.publish(topic, payload, qos=1).wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


def _topic(rig: Rig, suffix: str, sensor: str) -> str:
    if suffix.startswith("//"):
        return f"{rig.root}/{suffix[2:].format(sensor=sensor)}".replace(f"{rig.root}/", f"{rig.root}//", 1)
    return f"{rig.root}/relco" + (f"/{suffix.format(sensor=sensor)}" if suffix else "")


def _poison_then_good(rig: Rig, name: str) -> None:
    suffix, payload, phrase = POISONS[name]
    sensor = rig.sensor("PZ", kind="gas_pressure", unit="MPa")
    time.sleep(1.1)  # the worker's registry cache looks a missing sensor up again at most once a second
    payload = payload.replace(b"{sensor}", sensor.encode()).replace(b"{t}", str(int(time.time()) - 40).encode())
    topic = _topic(rig, suffix, sensor)
    t_good = float(int(time.time()) - 30)
    _publish(rig, [(topic, payload), (f"{rig.root}/relco/{sensor}", json.dumps({"t": t_good, "v": 0.3}).encode())])
    assert wait_for(lambda: rig.stored(sensor)[0] == 1, 20), f"{name}: the reading after the poison was not stored"
    with rig.engine.connect() as conn:
        reasons = (
            conn.execute(text("SELECT reason FROM dead_letters WHERE topic = :t ORDER BY id"), {"t": topic})
            .scalars()
            .all()
        )
    assert reasons and phrase in reasons[-1], f"{name}: dead letters {reasons}"
    assert all(p.poll() is None for p in rig.procs.values()), f"{name}: the worker died"


@pytest.mark.parametrize("name", sorted(POISONS))
def test_poison_is_dead_lettered_and_the_stream_goes_on(stream: Rig, name: str) -> None:
    _poison_then_good(stream, name)


def test_poisons_after_a_restart(stream: Rig) -> None:
    p = stream.procs["ingest"]
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=30)
    stream.start("ingest")
    for name in sorted(POISONS):
        _poison_then_good(stream, name)
