"""Guessing keys costs the guesser: failed key checks are counted per client address and per key id.

- An address with ``per_address`` failed checks (API key headers, bearer tokens, logins) in a window is
  refused with 429 for the rest of that window, before its key is looked at: neither a right nor a wrong
  guess is tried, and the database is spared the lookup. Dashboard sessions already open from that address
  keep working (their cookie is a random 256-bit token, not a key).
- A key id with ``per_key`` failed checks in a window, from any addresses, is under attack: each further
  wrong secret for it blocks the address that sent it at once, so guessers rotating addresses get one try
  per address and window. The right secret still passes from any address not blocked: a key is never
  locked away from its holder by someone who only knows its id.

The counters live in the API process, in two tables of at most ``max_entries`` names each (the name that
failed least recently is dropped first), so an attacker rotating addresses or key ids cannot grow them.
They are not shared between API processes: with n processes a guesser gets n times the budget, which is
still nothing against a 256-bit secret; a shared table would add a database write to every failed guess,
the very load a guesser wants to cause. Every failure is logged with structured fields until its address
is blocked, then once more when the block begins (so an address writes at most ``per_address`` + 1 lines a
window); refused attempts are counted in Prometheus only.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import HTTPException, Request
from prometheus_client import Counter

from resilience.core.settings import Settings
from resilience.store.api_keys import split_key

log = logging.getLogger("resilience.api.auth")

FAILED = Counter(
    "lifeline_api_auth_failures_total", "Failed API key checks (not a live key)", ["credential"]
)  # credential: key (X-API-Key / Bearer) | login (POST /api/v1/session)
REFUSED = Counter(
    "lifeline_api_auth_refused_total",
    "Key checks refused with 429 by the login limits",
    ["limit"],  # address: the address was already blocked; key_id: a wrong secret for a key under attack
)


@dataclass(slots=True)
class _Window:
    start: float
    failures: int = 0


class _Counts:
    """Failures per name in fixed windows from each name's first failure; at most ``max_entries`` names."""

    def __init__(self, window_s: float, max_entries: int) -> None:
        self.window_s = window_s
        self.max_entries = max_entries
        self._windows: OrderedDict[str, _Window] = OrderedDict()

    def __len__(self) -> int:
        return len(self._windows)

    def live(self, name: str, now: float) -> _Window | None:
        window = self._windows.get(name)
        if window is not None and now - window.start >= self.window_s:
            del self._windows[name]
            return None
        return window

    def add(self, name: str, now: float, failures: int = 1) -> _Window:
        window = self.live(name, now)
        if window is None:
            window = self._windows[name] = _Window(now)
            while len(self._windows) > self.max_entries:
                self._windows.popitem(last=False)
        window.failures += failures
        self._windows.move_to_end(name)
        return window

    def left(self, window: _Window, now: float) -> float:
        return window.start + self.window_s - now


class LoginLimits:
    """The API process's counters of failed key checks (see the module's docstring)."""

    def __init__(
        self,
        *,
        window_s: float,
        per_address: int,
        per_key: int,
        max_entries: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_address, self.per_key, self.clock = per_address, per_key, clock
        self.addresses = _Counts(window_s, max_entries)
        self.keys = _Counts(window_s, max_entries)
        self._lock = threading.Lock()  # sync routes run on a thread pool

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginLimits:
        return cls(
            window_s=settings.auth_window_s,
            per_address=settings.auth_failures_per_address,
            per_key=settings.auth_failures_per_key,
            max_entries=settings.auth_limit_entries,
        )

    def blocked_for(self, address: str) -> float | None:
        """Seconds the address must still wait, or None when it may try a key."""
        with self._lock:
            now = self.clock()
            window = self.addresses.live(address, now)
            if window is None or window.failures < self.per_address:
                return None
            return self.addresses.left(window, now)

    def failed(self, address: str, key_id: str | None, credential: str) -> float | None:
        """Count a failed check; the seconds to wait when it puts the caller over a limit, else None."""
        with self._lock:
            now = self.clock()
            under_attack = False
            if key_id is not None:
                under_attack = self.keys.add(key_id, now).failures > self.per_key
            before = self.addresses.live(address, now)
            already = before.failures if before is not None else 0
            window = self.addresses.add(address, now, max(1, self.per_address - already) if under_attack else 1)
            wait = self.addresses.left(window, now) if window.failures >= self.per_address else None
        FAILED.labels(credential).inc()
        fields = {"event": "auth_failed", "client": address, "key_id": key_id, "credential": credential}
        log.warning("failed key check from %s (key id %s, %s)", address, key_id, credential, extra=fields)
        if wait is not None:
            limit = "key_id" if under_attack else "address"
            REFUSED.labels(limit).inc()
            log.warning(
                "address %s blocked for %.0f s (%s limit)",
                address,
                wait,
                limit,
                extra={**fields, "event": "auth_limited", "limit": limit, "retry_after_s": math.ceil(wait)},
            )
        return wait


def client_address(request: Request) -> str:
    """The caller's address as the server sees it (uvicorn takes X-Forwarded-For from trusted proxies only)."""
    return request.client.host if request.client else "unknown"


def _too_many(wait: float) -> HTTPException:
    seconds = max(1, math.ceil(wait))
    return HTTPException(
        429,
        f"too many failed key checks from this address or for this key id: try again in {seconds} s",
        headers={"Retry-After": str(seconds)},
    )


def refuse_if_blocked(request: Request) -> None:
    """429 before any key is looked at, for an address over its budget."""
    limits: LoginLimits = request.app.state.login_limits
    wait = limits.blocked_for(client_address(request))
    if wait is not None:
        REFUSED.labels("address").inc()
        raise _too_many(wait)


def count_failure(request: Request, presented: str, credential: str) -> None:
    """Record a failed check of ``presented``; 429 when it puts the caller over a limit (else the caller's 401)."""
    limits: LoginLimits = request.app.state.login_limits
    parts = split_key(presented)
    wait = limits.failed(client_address(request), parts[0] if parts else None, credential)
    if wait is not None:
        raise _too_many(wait)
