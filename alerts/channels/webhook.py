"""Webhook channel over httpx: signed JSON POST with an Idempotency-Key so receivers drop repeats.

Only a 2xx answer is a delivery: 5xx, 408 and 429 are retried, redirects and other 4xx are permanent.
"""

from __future__ import annotations

import httpx

from alerts.channels.base import Message, PermanentError, RetryableError, sign


class WebhookChannel:
    """POSTs ``message.body()`` to ``message.target``. Pass ``transport`` in tests (httpx.MockTransport)."""

    def __init__(self, secret: str, *, timeout: httpx.Timeout | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.secret = secret
        self.client = httpx.Client(timeout=timeout or httpx.Timeout(10.0, connect=5.0), transport=transport)

    def send(self, message: Message) -> None:
        body = message.body()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Lifeline-Signature": sign(body, self.secret),
            "Idempotency-Key": message.idempotency_key,
            "User-Agent": "lifeline-alerts/1",
        }
        try:
            response = self.client.post(message.target, content=body, headers=headers)
        except httpx.TransportError as exc:
            raise RetryableError(f"{type(exc).__name__}: {exc}") from exc
        except httpx.InvalidURL as exc:
            raise PermanentError(f"invalid URL {message.target!r}: {exc}") from exc
        code = response.status_code
        if 200 <= code < 300:
            return  # only a 2xx says the receiver has the message
        if code >= 500 or code in (408, 429):
            raise RetryableError(f"HTTP {code} from {message.target}")
        if 300 <= code < 400:
            # Not followed: the signed message is for this URL, and a moved receiver is a configuration fix.
            where = response.headers.get("location", "?")
            raise PermanentError(f"HTTP {code} from {message.target} (redirect to {where} not followed)")
        raise PermanentError(f"HTTP {code} from {message.target}: {response.text[:200]}")

    def close(self) -> None:
        self.client.close()
