"""Retry a unit of alert work whose read went stale (optimistic locking) or lost a deadlock.

Every writer of alerts (the engine's event consumer and tick, the API's operator actions) reads rows,
decides, and saves them with ``store.save_alert``, which refuses a row someone else saved in between
(``StaleAlertError``). The fix is always the same: throw the attempt away and do it again from a fresh
read, a bounded number of times. ``in_transaction`` runs each attempt in its own transaction (the caller
has an engine); ``in_savepoint`` runs it in a SAVEPOINT of the caller's transaction (EventConsumer, API
request), which under READ COMMITTED also reads afresh after the rollback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from alerts.store import StaleAlertError
from resilience.store.db import Connection, Engine, is_conflict

log = logging.getLogger(__name__)
T = TypeVar("T")

ATTEMPTS = 5


class ConflictError(RuntimeError):
    """Still conflicting after every attempt; the API answers 409 with this reason."""


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, StaleAlertError) or is_conflict(exc)


def _attempts(run: Callable[[], T], what: str, attempts: int) -> T:
    """Call ``run`` until it returns; a conflict is retried, anything else propagates at once."""
    for attempt in range(1, attempts + 1):
        try:
            return run()
        except Exception as exc:
            if not _retryable(exc):
                raise
            if attempt == attempts:
                raise ConflictError(f"{what}: still conflicting after {attempts} attempts ({exc})") from exc
            log.info("%s: attempt %d conflicted (%s); retrying from a fresh read", what, attempt, exc)
    raise AssertionError("unreachable")


def in_transaction(
    engine: Engine, fn: Callable[[Connection], T], *, what: str = "alert update", attempts: int = ATTEMPTS
) -> T:
    """``fn(conn)`` in a transaction of its own, redone in a new one after a conflict."""

    def run() -> T:
        with engine.begin() as conn:
            return fn(conn)

    return _attempts(run, what, attempts)


def in_savepoint(
    conn: Connection, fn: Callable[[Connection], T], *, what: str = "alert update", attempts: int = ATTEMPTS
) -> T:
    """``fn(conn)`` inside the caller's transaction; a conflicting attempt is rolled back to its savepoint
    only, so what the caller did before (a cursor lock, an inserted silence) stays."""

    def run() -> T:
        with conn.begin_nested():
            return fn(conn)

    return _attempts(run, what, attempts)
