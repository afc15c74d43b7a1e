"""Verify a signed webhook from the lifeline alert service (in the spirit of the Standard Webhooks scheme).

Every webhook carries three headers:

- ``webhook-id``: the notification's idempotency key. A retry of the same notification (after a timeout,
  a 5xx, a dispatcher restart) carries the same id, so it doubles as the receiver's deduplication key.
- ``webhook-timestamp``: unix seconds when this attempt was signed (each attempt is signed afresh).
- ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` under the receiver's
  secret; several space-separated signatures may be present (secret rotation), one valid is enough.

A secret written ``whsec_<base64>`` is used as the decoded bytes (the Standard Webhooks convention); any
other secret is used as its UTF-8 bytes. This module uses only the standard library, so a receiver can
copy it as is::

    from alerts.webhook_verify import SeenIds, WebhookReplayError, WebhookVerificationError, verify

    seen = SeenIds()
    try:
        verify(secret, request.headers, raw_body, seen=seen)
    except WebhookReplayError:
        return 200       # a repeat of a notification already handled: acknowledge, do nothing
    except WebhookVerificationError:
        return 401       # forged, tampered or stale
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import threading
import time
from collections.abc import Mapping, MutableSet
from typing import Any, Protocol

__all__ = ["SeenIds", "WebhookReplayError", "WebhookVerificationError", "sign", "verify"]

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
DEFAULT_TOLERANCE_S = 300


class WebhookVerificationError(Exception):
    """The request is not a valid webhook from the alert service; the message says why."""


class WebhookReplayError(WebhookVerificationError):
    """Validly signed, but its ``webhook-id`` was seen before: a retry or a replay, not to be acted on twice."""


class _SeenStore(Protocol):
    def add_if_new(self, msg_id: str, now: float) -> bool: ...


class SeenIds:
    """Thread-safe in-memory store of verified ids, each kept ``ttl_s`` (default: twice the tolerance;
    older requests fail the timestamp check anyway). Use a shared store (a database table with a unique
    key, Redis SET NX) when several receiver processes share the work."""

    def __init__(self, ttl_s: float = 2 * DEFAULT_TOLERANCE_S) -> None:
        self.ttl_s = ttl_s
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def add_if_new(self, msg_id: str, now: float) -> bool:
        with self._lock:
            if len(self._seen) > 1000:
                self._seen = {k: t for k, t in self._seen.items() if now - t < self.ttl_s}
            first = self._seen.get(msg_id)
            if first is not None and now - first < self.ttl_s:
                return False
            self._seen[msg_id] = now
            return True

    def __contains__(self, msg_id: object) -> bool:
        with self._lock:
            return msg_id in self._seen


def _key(secret: str | bytes) -> bytes:
    if isinstance(secret, bytes):
        return secret
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret[len("whsec_") :], validate=True)
        except (binascii.Error, ValueError):
            pass
    return secret.encode()


def sign(secret: str | bytes, msg_id: str, timestamp: int | str, body: bytes) -> str:
    """The ``webhook-signature`` value for one attempt: ``v1,<base64 HMAC-SHA256>``."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest()).decode()


def _header(headers: Mapping[str, str] | Any, name: str) -> str:
    value = None
    if hasattr(headers, "get"):
        value = headers.get(name)  # httpx / Starlette / http.server headers are case-insensitive
    if value is None and hasattr(headers, "items"):
        value = next((v for k, v in headers.items() if str(k).lower() == name), None)
    if value is None or not str(value).strip():
        raise WebhookVerificationError(f"missing {name} header")
    return str(value).strip()


def verify(
    secret: str | bytes,
    headers: Mapping[str, str] | Any,
    body: bytes,
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
    seen: SeenIds | _SeenStore | MutableSet[str] | None = None,
) -> None:
    """Return if ``body`` with ``headers`` is a webhook signed with ``secret``; raise WebhookVerificationError
    otherwise (missing header, malformed or too old/new timestamp, bad signature), and WebhookReplayError
    when ``seen`` is given and already holds this ``webhook-id``. ``body`` must be the raw bytes received
    (not re-serialised JSON). The id is recorded in ``seen`` only once the signature has been checked."""
    msg_id = _header(headers, ID_HEADER)
    raw_ts = _header(headers, TIMESTAMP_HEADER)
    signatures = _header(headers, SIGNATURE_HEADER)
    try:
        ts = int(raw_ts)
    except ValueError:
        raise WebhookVerificationError(f"{TIMESTAMP_HEADER} {raw_ts!r} is not unix seconds") from None
    clock = time.time() if now is None else now
    if abs(clock - ts) > tolerance_s:
        raise WebhookVerificationError(
            f"{TIMESTAMP_HEADER} {ts} is {clock - ts:+.0f} s from now, outside the tolerance of {tolerance_s:g} s"
        )
    expected = sign(secret, msg_id, ts, body).split(",", 1)[1]
    ok = False
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected.encode()):
            ok = True  # no early exit: compare every candidate
    if not ok:
        raise WebhookVerificationError("no valid v1 signature (wrong secret, or body or headers altered)")
    if seen is not None:
        if hasattr(seen, "add_if_new"):
            new = seen.add_if_new(msg_id, clock)
        else:
            new = msg_id not in seen
            seen.add(msg_id)
        if not new:
            raise WebhookReplayError(f"{ID_HEADER} {msg_id!r} was already received")
