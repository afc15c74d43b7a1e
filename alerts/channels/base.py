"""The channel interface and its two errors (the split mirrors httpx: transport trouble vs. a refusal).

- RetryableError: the receiver may accept later (connection refused, timeouts, HTTP 5xx, 408 and 429,
  SMTP 4xx, MQTT not connected).
- PermanentError: retrying the same message cannot help (HTTP 3xx, 4xx other than 408/429, SMTP 5xx, bad target).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, Protocol


class DeliveryError(Exception):
    """Base of channel errors."""


class RetryableError(DeliveryError):
    """Try again later."""


class PermanentError(DeliveryError):
    """Do not try again."""


@dataclass(frozen=True)
class Message:
    """One outbox row ready to send. ``target`` is a URL, an e-mail address or an MQTT topic."""

    channel: str
    target: str
    payload: dict[str, Any]
    idempotency_key: str

    def body(self) -> bytes:
        """Canonical JSON body (sorted keys) so the signature is reproducible by the receiver."""
        return json.dumps(self.payload, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def sign(body: bytes, secret: str) -> str:
    """Value of the X-Lifeline-Signature header: ``sha256=<hex HMAC-SHA256 of the body>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: str, header: str) -> bool:
    return hmac.compare_digest(sign(body, secret), header)


class Channel(Protocol):
    def send(self, message: Message) -> None: ...
