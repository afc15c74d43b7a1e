"""Notification channels: each ``send(message)`` either returns (delivered) or raises RetryableError or
PermanentError, so the dispatcher alone decides about retries, backoff and the final failed state."""

from alerts.channels.base import Channel, Message, PermanentError, RetryableError

__all__ = ["Channel", "Message", "PermanentError", "RetryableError"]
