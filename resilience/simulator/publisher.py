"""MQTT 5 publisher of SenML packs to ``<topic_root>/<utility_id>`` (QoS 1, paho-mqtt 2 callback API v2)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from resilience.simulator.simulation import Batch
from resilience.simulator.senml import MAX_RECORDS, build_packs, encode


class SenmlPublisher:
    """Thin wrapper owning one paho client; ``publish_batch`` returns the number of packs queued."""

    def __init__(
        self,
        host: str,
        port: int,
        sensor_ids: Sequence[str],
        units: Sequence[str],
        utility_of: Sequence[str],
        client_id: str = "resilience-simulator",
        topic_root: str = "lifeline",
        alt_unit_fraction: float = 0.02,
        seed: int = 0,
        max_records: int = MAX_RECORDS,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.username, self.password = username, password  # None: the platform's 'simulator' account
        self.sensor_ids, self.units, self.utility_of = list(sensor_ids), list(units), list(utility_of)
        self.topic_root = topic_root.rstrip("/")
        self.alt_unit_fraction, self.seed, self.max_records = alt_unit_fraction, seed, max_records
        self._connected = threading.Event()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)  # unbounded: paced by wait_for_publish in flush()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self._pending: list[mqtt.MQTTMessageInfo] = []
        self.packs_sent = 0
        self.records_sent = 0

    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: object, reason_code: object, properties: object
    ) -> None:
        if not getattr(reason_code, "is_failure", False):
            self._connected.set()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: object, flags: object, reason_code: object, properties: object
    ) -> None:
        self._connected.clear()

    def connect(self, timeout_s: float = 10.0) -> None:
        if self.username is None:  # it speaks for every simulated utility: the account that may write <root>/#
            from resilience.ops.broker_accounts import service_credentials
            from resilience.core.settings import get_settings

            creds = service_credentials(get_settings(), "simulator")
            self.username, self.password = creds.username, creds.password
        self.client.username_pw_set(self.username, self.password)
        self.client.connect(self.host, self.port, keepalive=30)
        self.client.loop_start()
        if not self._connected.wait(timeout_s):
            self.client.loop_stop()
            raise ConnectionError(f"MQTT broker {self.host}:{self.port} did not accept the connection")

    def publish_batch(self, batch: Batch) -> int:
        n = 0
        for utility, pack in build_packs(
            self.sensor_ids,
            self.units,
            self.utility_of,
            batch.idx,
            batch.t,
            batch.v,
            self.alt_unit_fraction,
            self.seed,
            self.max_records,
        ):
            info = self.client.publish(f"{self.topic_root}/{utility}", encode(pack), qos=1)
            if info.rc == mqtt.MQTT_ERR_SUCCESS:
                self._pending.append(info)
            # else not connected (the broker restarting): paho keeps the QoS 1 message and sends it on
            # reconnect; its info object would raise on every later look, so it is not waited for here
            n += 1
            self.records_sent += len(pack)
        self.packs_sent += n
        return n

    def flush(self, timeout_s: float = 10.0) -> None:
        """Wait until queued QoS 1 messages are acknowledged, so memory stays bounded at high speed."""
        deadline = time.monotonic() + timeout_s
        for info in self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                if not info.is_published():
                    info.wait_for_publish(remaining)
            except (RuntimeError, ValueError):  # not connected: paho resends QoS 1 after reconnecting
                break
        self._pending = [i for i in self._pending if not _published(i)]

    def close(self) -> None:
        self.flush()
        self.client.disconnect()
        self.client.loop_stop()


def _published(info: mqtt.MQTTMessageInfo) -> bool:
    """True once the broker acknowledged the message; a message whose publish failed counts as done."""
    try:
        return info.is_published()
    except (RuntimeError, ValueError):
        return True
