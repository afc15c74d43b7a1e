"""MQTT channel: publishes to ``alerts/<district>/<level>`` with QoS 1 (paho-mqtt 2, VERSION2 callbacks)."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from alerts.channels.base import Message, RetryableError


def topic_for(district_id: str | None, level: str) -> str:
    """``alerts/<district>/<level>``; alerts without a district go under ``_``."""
    safe = (district_id or "_").replace("/", "_").replace("+", "_").replace("#", "_")
    return f"alerts/{safe}/{level}"


class MqttChannel:
    """Keeps one connection; each send waits for the broker's PUBACK (QoS 1) or raises RetryableError."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        client_id: str = "lifeline-alerts",
        timeout_s: float = 10.0,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self._connected = threading.Event()
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
        if username is None:  # the platform's 'alerts' account (may write alerts/# only)
            from resilience.ops.broker_accounts import service_credentials
            from resilience.core.settings import get_settings

            creds = service_credentials(get_settings(), "alerts")
            username, password = creds.username, creds.password
        self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self._started = False
        self.refused: str | None = None

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, reason: object, props: object) -> None:
        if not getattr(reason, "is_failure", False):
            self._connected.set()
        else:
            self.refused = str(reason)

    def _on_disconnect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: object, props: object
    ) -> None:
        self._connected.clear()

    def _ensure_connected(self) -> None:
        if self._connected.is_set():
            return
        try:
            if not self._started:
                self.client.connect(self.host, self.port, keepalive=30)
                self.client.loop_start()
                self._started = True
            else:
                self.client.reconnect()
        except OSError as exc:
            raise RetryableError(f"MQTT connect to {self.host}:{self.port}: {exc}") from exc
        if not self._connected.wait(self.timeout_s):
            why = f" ({self.refused})" if self.refused else ""
            raise RetryableError(f"MQTT broker {self.host}:{self.port} did not accept the connection{why}")

    def send(self, message: Message) -> None:
        with self._lock:
            self._ensure_connected()
            info = self.client.publish(message.target, message.body(), qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                raise RetryableError(f"MQTT publish failed: {mqtt.error_string(info.rc)}")
            try:
                info.wait_for_publish(self.timeout_s)
            except (RuntimeError, ValueError) as exc:
                raise RetryableError(f"MQTT publish not confirmed: {exc}") from exc
            if not info.is_published():
                raise RetryableError("MQTT publish not confirmed within timeout")

    def close(self) -> None:
        if self._started:
            self.client.disconnect()
            self.client.loop_stop()
