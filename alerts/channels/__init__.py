"""Notification channels: each ``send(message)`` either returns (delivered) or raises RetryableError or
PermanentError, so the dispatcher alone decides about retries, backoff and the final failed state."""

from __future__ import annotations

from typing import Any

from alerts.channels.base import Channel, Message, PermanentError, RetryableError

__all__ = ["Channel", "Message", "PermanentError", "RetryableError", "build_channels"]


def build_channels(settings: Any, rules: Any) -> dict[str, Channel]:
    """The channels a dispatcher delivers through, from the settings and the rules it was started with."""
    from alerts.channels.email import EmailChannel
    from alerts.channels.mqtt import MqttChannel
    from alerts.channels.webhook import WebhookChannel

    return {
        "webhook": WebhookChannel(settings.webhook_secret, rules=rules),
        "email": EmailChannel(rules.smtp.host, rules.smtp.port, rules.smtp.sender, timeout_s=rules.smtp.timeout_s),
        "mqtt": MqttChannel(settings.mqtt_host, settings.mqtt_port, client_id="lifeline-alerts-dispatcher"),
    }
