"""The alert engine as the runtime sees it: one event -> one transaction; ``tick`` for time-driven work.

Each unit of work is retried from a fresh read when it loses an optimistic-locking race (an operator
acknowledged an alert between the engine's read and its save): ``alerts.retry``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from alerts import retry
from alerts.config import RulesConfig
from alerts.model import Alert
from alerts.service import AlertService, TickResult
from resilience.core.events import Event, EventKind, EventSubscriber, event_from_dict
from resilience.store.db import Connection, Engine


def utcnow() -> datetime:
    return datetime.now(UTC)


class AlertEngine:
    """Subscribes to AnomalyEvent, SensorHealthEvent and RiskLevelEvent (``subscribe(bus)``)."""

    def __init__(
        self, engine: Engine, settings: Any, rules: RulesConfig, *, now: Callable[[], datetime] = utcnow
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.rules = rules
        self.now = now

    def handle(self, event: Event | dict[str, Any]) -> list[Alert]:
        """Alert changes and their outbox rows for one event, committed together."""
        ev = event_from_dict(event) if isinstance(event, dict) else event
        return retry.in_transaction(
            self.engine, lambda conn: AlertService(conn, self.rules, self.now()).handle(ev), what="alert event"
        )

    def handle_in(self, event: Event, conn: Connection) -> list[Alert]:
        """Same as ``handle`` inside the caller's transaction (EventConsumer: cursor moves with the alerts).

        A conflict is retried in a savepoint; if it persists, ConflictError propagates, the consumer's
        transaction rolls back and its cursor stays, so the consumer retries the batch.
        """
        return retry.in_savepoint(
            conn, lambda c: AlertService(c, self.rules, self.now()).handle(event), what="alert event"
        )

    def handle_batch_in(self, events: list[Event], conn: Connection) -> list[Alert]:
        """A batch of events in the caller's transaction, muting and notifications computed once (EventConsumer);
        conflicts as in ``handle_in``."""
        return retry.in_savepoint(
            conn, lambda c: AlertService(c, self.rules, self.now()).handle_many(events), what="alert event batch"
        )

    def tick(self, now: datetime | None = None) -> TickResult:
        """Escalation, auto-resolve and delivery-failure alerts; redone in a new transaction after a conflict."""
        return retry.in_transaction(
            self.engine, lambda conn: AlertService(conn, self.rules, now or self.now()).tick(), what="alert tick"
        )

    def subscribe(self, bus: EventSubscriber) -> None:
        """Take alert-relevant events from an in-process bus (backtests); production uses ``EventConsumer``."""
        for kind in (EventKind.ANOMALY, EventKind.SENSOR_HEALTH, EventKind.RISK_LEVEL, EventKind.PLATFORM_HEALTH):
            bus.subscribe(kind, self.handle)
