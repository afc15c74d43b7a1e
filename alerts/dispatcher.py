"""Outbox dispatcher: claims due notifications, sends them, retries with exponential backoff.

Claiming is a short transaction (``FOR UPDATE SKIP LOCKED``) that takes a lease by pushing
``next_attempt_at`` forward, so several dispatchers can run and a dispatcher killed between claim and
send only delays the message until the lease expires. Delivery is at-least-once: a crash after the send
but before ``delivered`` is recorded sends again with the same Idempotency-Key, which receivers drop.
``run_forever`` LISTENs on ``lifeline_outbox`` (``NOTIFY`` comes with every outbox insert, at commit), so a new
notification is sent within milliseconds; between notifications it sleeps until the next retry is due, at
most ``poll_interval_s`` (the fallback for a notification missed while the listener reconnects).
A message that fails permanently, or keeps failing past ``max_attempts``/``max_age_s``, ends ``failed``;
the alert engine's tick then raises an alert about it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter
from alerts import store
from alerts.channels.base import Channel, Message, PermanentError, RetryableError
from alerts.send_values import read_current, with_current
from alerts.store import OUTBOX_CHANNEL, outbox
from resilience.store.db import Engine
from resilience.store.eventlog import NotifyListener, engine_url

log = logging.getLogger(__name__)
SENT = Counter(
    "lifeline_notifications_total", "Notification send attempts by channel and result", ["channel", "result"]
)
OUTCOMES = ("delivered", "retry", "permanent")  # SENT's results (Dispatcher.send)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class DispatcherOptions:
    """Zero-config defaults ride out a receiver outage of tens of minutes (1, 2, 4 ... 300 s, 16 tries)."""

    batch_size: int = 50
    lease_s: float = 60.0
    backoff_initial_s: float = 1.0
    backoff_factor: float = 2.0
    backoff_max_s: float = 300.0
    max_attempts: int = 16
    max_age_s: float = 24 * 3600.0
    poll_interval_s: float = 1.0

    def backoff(self, attempts: int) -> float:
        """Delay before the next try after ``attempts`` failed tries."""
        return min(self.backoff_max_s, self.backoff_initial_s * self.backoff_factor ** max(0, attempts - 1))


@dataclass(frozen=True)
class Claimed:
    id: int
    attempts: int  # after this claim; doubles as the lease token
    message: Message
    kind: str
    group_key: str
    receiver: str
    firing: list[str]
    resolved: list[str]
    created_at: datetime
    last_error: str | None


class Dispatcher:
    def __init__(
        self,
        engine: Engine,
        channels: Mapping[str, Channel],
        *,
        now: Callable[[], datetime] = utcnow,
        options: DispatcherOptions | None = None,
    ) -> None:
        self.engine = engine
        self.channels = channels
        self.now = now
        self.options = options or DispatcherOptions()

    def claim(self) -> list[Claimed]:
        """Take a lease on due pending rows and commit, so the lease survives our crash."""
        now = self.now()
        with self.engine.begin() as conn:
            rows = outbox.claim_due(conn, now=now, limit=self.options.batch_size, lease_s=self.options.lease_s)
            out: list[Claimed] = []
            for m in rows:
                out.append(
                    Claimed(
                        id=m["id"],
                        attempts=m["attempts"],
                        message=Message(m["channel"], m["target"], m["payload"], m["idempotency_key"]),
                        kind=m["kind"],
                        group_key=m["group_key"],
                        receiver=m["receiver"],
                        firing=list(m["firing_keys"]),
                        resolved=list(m["resolved_keys"]),
                        created_at=m["created_at"],
                        last_error=m["last_error"],
                    )
                )
        return out

    def send(self, c: Claimed) -> tuple[str, str | None]:
        """Returns (result, error): delivered | retry | permanent."""
        channel = self.channels.get(c.message.channel)
        if channel is None:
            return "retry", f"no {c.message.channel} channel configured in this dispatcher"
        try:
            channel.send(c.message)
        except PermanentError as exc:
            return "permanent", str(exc)
        except RetryableError as exc:
            return "retry", str(exc)
        except Exception as exc:  # a bug in a channel must not kill the loop; treat as transient
            log.exception("channel %s raised unexpectedly", c.message.channel)
            return "retry", f"{type(exc).__name__}: {exc}"
        return "delivered", None

    def complete(self, c: Claimed, result: str, error: str | None) -> str:
        """Record the outcome if we still hold the lease; returns the row's new status."""
        now = self.now()
        values: dict[str, Any]
        if result == "delivered":
            status = "delivered"
            values = {"status": status, "delivered_at": now, "last_error": None}
            log.debug(
                "notification %s (%s) delivered %.0f ms after it was enqueued",
                c.id,
                c.message.channel,
                (now - c.created_at).total_seconds() * 1000,
            )
        else:
            too_old = now - c.created_at >= timedelta(seconds=self.options.max_age_s)
            final = result == "permanent" or c.attempts >= self.options.max_attempts or too_old
            status = "failed" if final else "pending"
            values = {"status": status, "last_error": error}
            if not final:
                values["next_attempt_at"] = now + timedelta(seconds=self.options.backoff(c.attempts))
            if error != c.last_error or final:
                log.warning(
                    "notification %s to %s (%s) attempt %d: %s -> %s",
                    c.id,
                    c.receiver,
                    c.message.channel,
                    c.attempts,
                    error,
                    status,
                )
        SENT.labels(c.message.channel, result).inc()
        with self.engine.begin() as conn:
            still_ours = outbox.record_outcome(conn, notification_id=c.id, attempts=c.attempts, values=values)
            if still_ours and status == "delivered" and c.kind in store.NOTIFY_KINDS:
                store.record_notified(
                    conn, group_key=c.group_key, receiver=c.receiver, firing=c.firing, resolved=c.resolved, now=now
                )
        return status

    def with_values_now(self, claimed: list[Claimed]) -> list[Claimed]:
        """The claimed messages carrying their alerts' sensor values read now, just before sending (one query
        for the batch): a message sent after a wait or a retry says what is true when it goes out."""
        ids = {s for c in claimed for s in ((c.message.payload.get("alert") or {}).get("sensor_ids") or [])}
        if not ids:
            return claimed
        now = self.now()
        with self.engine.connect() as conn:
            current = read_current(conn, ids, now)
        return [
            replace(c, message=replace(c.message, payload=with_current(c.message.payload, current, now)))
            for c in claimed
        ]

    def run_once(self) -> int:
        """One claim-send-record round; returns how many messages were delivered."""
        delivered = 0
        for c in self.with_values_now(self.claim()):
            result, error = self.send(c)
            if self.complete(c, result, error) == "delivered":
                delivered += 1
        return delivered

    def due_count(self) -> int:
        with self.engine.connect() as conn:
            return outbox.count_due(conn, self.now())

    def next_due_in(self) -> float | None:
        """Seconds until the earliest pending row is due (<= 0: due now); None when nothing is pending."""
        with self.engine.connect() as conn:
            nxt = outbox.next_due_at(conn)
        return None if nxt is None else (nxt - self.now()).total_seconds()

    def run_forever(self, stop_event: threading.Event, *, listen: bool = True) -> None:
        wake = threading.Event()
        if listen:
            NotifyListener(engine_url(self.engine), OUTBOX_CHANNEL, wake, stop_event, name="dispatcher").start()
        while not stop_event.is_set():
            wake.clear()  # before claiming: an insert committed from now on cuts the wait below short
            try:
                claimed = self.run_once_claimed()
                if claimed >= self.options.batch_size:
                    wait = 0.0  # more may be due right now
                else:  # a due row we could not claim is leased by another dispatcher: do not spin on it
                    wait = self._idle_wait(floor=0.05 if claimed == 0 else 0.0)
            except Exception:  # database hiccup: keep the loop alive, try again shortly
                log.exception("dispatcher round failed")
                wait = self.options.poll_interval_s
            if wait > 0:
                wake.wait(wait)

    def _idle_wait(self, floor: float = 0.0) -> float:
        due = self.next_due_in()
        if due is None:
            return self.options.poll_interval_s
        return max(floor, min(self.options.poll_interval_s, due))

    def run_once_claimed(self) -> int:
        """``run_once`` but returns how many rows were claimed (delivered or not)."""
        claimed = self.with_values_now(self.claim())
        for c in claimed:
            result, error = self.send(c)
            self.complete(c, result, error)
        return len(claimed)
