"""Webhook channel over httpx: signed JSON POST (Standard Webhooks style) so receivers can verify and dedupe.

Headers: ``webhook-id`` (the notification's idempotency key, the same on every retry), ``webhook-timestamp``
(unix seconds of this attempt) and ``webhook-signature`` (``v1,<base64 HMAC-SHA256 of "{id}.{ts}.{body}">``,
see alerts.webhook_verify, which receivers use to check them). The older ``X-Lifeline-Signature`` (HMAC of
the body alone) and ``Idempotency-Key`` are still sent for receivers written against them.

The secret is the receiver's own (``secret`` / ``secret_env`` / ``secret_file`` in the rules), else the
platform's RESILIENCE_WEBHOOK_SECRET. Secrets never appear in errors or logs.

Destinations: loopback, link-local, private, multicast and other non-global addresses are refused unless the
rules allow them (``webhook_allow_private: true``, ``webhook_allowlist`` of host names and IPs/CIDRs) or the
environment does (RESILIENCE_WEBHOOK_ALLOW_PRIVATE=true, for local development and tests). A host name is
resolved here, every address it resolves to is checked, and the connection goes to the checked address (so a
name cannot resolve to something else between check and connect); a refusal is a permanent failure and
happens before any connection.

Only a 2xx answer is a delivery: 5xx, 408 and 429 are retried, redirects and other 4xx are permanent. Each
attempt has a total deadline (resolve + connect + write + read, ``deadline_s``) on top of httpx's
per-operation timeouts, so a receiver that trickles its answer cannot hold the dispatcher.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from alerts.channels.base import Message, PermanentError, RetryableError, sign
from alerts.channels.destinations import ALLOW_PRIVATE_ENV, DestinationPolicy, DestinationRefused, ip_literal

__all__ = ["ALLOW_PRIVATE_ENV", "DestinationPolicy", "DestinationRefused", "WebhookChannel"]
from alerts.webhook_verify import sign as sign_v1

log = logging.getLogger(__name__)

DEFAULT_DEADLINE_S = 15.0
_ERROR_BODY_BYTES = 1024  # of a refusal's body, kept for the error message
Resolver = Callable[[str, int], Sequence[str]]


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


_RESOLVE_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="webhook-dns")


class _Deadline:
    """Cuts the attempt's connections (shutdown, which wakes a blocked recv) when the deadline passes.
    Connections are learnt through httpcore's trace extension; keep-alive is off, so every attempt opens
    its own connection and the trace sees it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expires = time.monotonic() + seconds
        self.fired = False
        self._streams: list[Any] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def remaining(self) -> float:
        return self.expires - time.monotonic()

    def trace(self, name: str, info: dict[str, Any]) -> None:
        if name.endswith((".connect_tcp.complete", ".start_tls.complete")) and info.get("return_value") is not None:
            with self._lock:
                self._streams.append(info["return_value"])
                fired = self.fired
            if fired:
                self._cut(info["return_value"])

    def _expire(self) -> None:
        with self._lock:
            self.fired = True
            streams = list(self._streams)
        for s in streams:
            self._cut(s)

    @staticmethod
    def _cut(stream: Any) -> None:
        try:
            sock = stream.get_extra_info("socket")
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)
        except (OSError, AttributeError, ValueError):
            pass

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


@dataclass(frozen=True)
class _Target:
    url: httpx.URL
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, Any] = field(default_factory=dict)


class WebhookChannel:
    """POSTs ``message.body()`` to ``message.target``. Pass ``transport`` in tests (httpx.MockTransport).

    ``rules`` (a RulesConfig) gives the receivers' secrets and the destination allowances; when None, the
    rules the dispatcher uses are loaded (RESILIENCE_ALERTS_RULES, else the defaults). ``policy`` overrides
    the destination policy; ``resolver(host, port) -> [ip, ...]`` the name resolution (default: the system
    resolver with the real transport; with an injected transport and no resolver, names are not resolved,
    literal IPs are still checked). ``clock`` gives ``webhook-timestamp`` (unix seconds).
    """

    def __init__(
        self,
        secret: str,
        *,
        timeout: httpx.Timeout | None = None,
        transport: httpx.BaseTransport | None = None,
        rules: Any = None,
        policy: DestinationPolicy | None = None,
        resolver: Resolver | None = None,
        deadline_s: float = DEFAULT_DEADLINE_S,
        clock: Callable[[], float] = time.time,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.secret = secret
        if rules is None:
            rules = _dispatcher_rules()
        self.policy = policy or DestinationPolicy.from_rules(rules, env=env)
        self.resolver = resolver if resolver is not None else (system_resolver if transport is None else None)
        self.deadline_s = deadline_s
        self.clock = clock
        self._secrets: dict[str, str] = {}  # receiver name -> secret
        self._secret_errors: dict[str, str] = {}  # receiver name -> why its secret is unusable (no value)
        self._by_url: dict[str, str] = {}  # webhook receiver url -> receiver name
        for r in getattr(rules, "receivers", []) or []:
            if r.type not in ("webhook", "responsible_unit"):
                continue
            if r.type == "webhook" and r.url:
                self._by_url.setdefault(r.url, r.name)
            try:
                own = r.webhook_secret(env)
            except ValueError as exc:  # ConfigError: names the variable or file, never a value
                self._secret_errors[r.name] = str(exc)
                log.error("webhook receiver %s: %s; its notifications will fail", r.name, exc)
                continue
            if own is not None:
                self._secrets[r.name] = own
        self.client = httpx.Client(
            timeout=timeout or httpx.Timeout(10.0, connect=5.0),
            transport=transport,
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    def _secret_for(self, message: Message) -> str:
        receiver = message.payload.get("receiver") if isinstance(message.payload, dict) else None
        if not isinstance(receiver, str) or not receiver:
            receiver = self._by_url.get(message.target, "")
        if receiver in self._secret_errors:
            raise PermanentError(self._secret_errors[receiver])
        return self._secrets.get(receiver, self.secret)

    def _target(self, target: str, deadline: _Deadline) -> _Target:
        try:
            url = httpx.URL(target)
        except httpx.InvalidURL as exc:
            raise PermanentError(f"invalid URL {target!r}: {exc}") from exc
        if url.scheme not in ("http", "https") or not url.host:
            raise PermanentError(f"invalid webhook URL {target!r}: http(s) with a host required")
        host = url.host
        ip = ip_literal(host)
        if ip is not None:
            if not self.policy.host_allowed(host):
                self.policy.check_ip(ip)
            return _Target(url)
        if self.policy.allow_private or self.policy.host_allowed(host) or self.resolver is None:
            return _Target(url)
        port = url.port or (443 if url.scheme == "https" else 80)
        future = _RESOLVE_POOL.submit(self.resolver, host, port)
        try:
            addresses = list(future.result(timeout=max(0.1, deadline.remaining())))
        except concurrent.futures.TimeoutError:
            raise RetryableError(f"resolving {host} took longer than the {self.deadline_s:g} s deadline") from None
        except OSError as exc:
            raise RetryableError(f"cannot resolve {host}: {exc}") from None
        if not addresses:
            raise RetryableError(f"{host} resolves to no address")
        for a in addresses:  # every address: the connection could otherwise land on a refused one
            addr = ip_literal(a)
            if addr is None:
                raise RetryableError(f"{host} resolved to {a!r}, not an IP address")
            self.policy.check_ip(addr, host)
        netloc = url.netloc.decode("ascii")
        extensions: dict[str, Any] = {"sni_hostname": host} if url.scheme == "https" else {}
        return _Target(url.copy_with(host=addresses[0]), {"Host": netloc}, extensions)

    def send(self, message: Message) -> None:
        secret = self._secret_for(message)
        with _Deadline(self.deadline_s) as deadline:
            target = self._target(message.target, deadline)  # refusals happen here, before any connection
            body = message.body()
            ts = int(self.clock())
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "webhook-id": message.idempotency_key,
                "webhook-timestamp": str(ts),
                "webhook-signature": sign_v1(secret, message.idempotency_key, ts, body),
                "X-Lifeline-Signature": sign(body, secret),
                "Idempotency-Key": message.idempotency_key,
                "User-Agent": "lifeline-alerts/1",
                **target.headers,
            }
            try:
                request = self.client.build_request(
                    "POST",
                    target.url,
                    content=body,
                    headers=headers,
                    extensions={**target.extensions, "trace": deadline.trace},
                )
                response = self.client.send(request, stream=True)
                try:
                    code = response.status_code
                    where = response.headers.get("location", "?")
                    detail = b"" if 200 <= code < 400 else _read_some(response, _ERROR_BODY_BYTES)
                finally:
                    response.close()
            except httpx.TransportError as exc:
                if deadline.fired:
                    raise RetryableError(
                        f"no complete answer from {message.target} within the {self.deadline_s:g} s deadline"
                    ) from exc
                raise RetryableError(f"{type(exc).__name__}: {exc}") from exc
            except httpx.InvalidURL as exc:
                raise PermanentError(f"invalid URL {message.target!r}: {exc}") from exc
        if 200 <= code < 300:
            return  # only a 2xx says the receiver has the message
        if code >= 500 or code in (408, 429):
            raise RetryableError(f"HTTP {code} from {message.target}")
        if 300 <= code < 400:
            # Not followed: the signed message is for this URL, and a moved receiver is a configuration fix.
            raise PermanentError(f"HTTP {code} from {message.target} (redirect to {where} not followed)")
        text = detail.decode("utf-8", "replace")[:200]
        raise PermanentError(f"HTTP {code} from {message.target}: {text}")

    def close(self) -> None:
        self.client.close()


def _read_some(response: httpx.Response, limit: int) -> bytes:
    out = b""
    for chunk in response.iter_bytes():
        out += chunk
        if len(out) >= limit:
            break
    return out[:limit]


def _dispatcher_rules() -> Any:
    """The rules the dispatcher loads when not given ``--rules``; None (platform secret, env policy) if they
    cannot be loaded (the dispatcher reports that itself)."""
    from alerts.config import ConfigError, load_rules

    try:
        return load_rules(os.environ.get("RESILIENCE_ALERTS_RULES") or None)
    except ConfigError as exc:
        log.warning("webhook channel without rules (%s): platform secret and default destination policy", exc)
        return None
