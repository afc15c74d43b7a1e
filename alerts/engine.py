"""The alert engine as the runtime sees it: one event -> one transaction; ``tick`` for time-driven work."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, Engine

from alerts.config import RulesConfig
from alerts.model import Alert
from alerts.service import AlertService, TickResult
from resilience.events import Event, EventKind, event_from_dict



def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class AlertEngine:
    """Subscribes to AnomalyEvent, SensorHealthEvent and RiskLevelEvent (``subscribe(bus)``)."""

    def __init__(self, engine: Engine, settings: Any, rules: RulesConfig, *,
                 now: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.settings = settings
        self.rules = rules
        self.now = now

    def handle(self, event: Event | dict[str, Any]) -> list[Alert]:
        """Alert changes and their outbox rows for one event, committed together."""
        if isinstance(event, dict):
            event = event_from_dict(event)
        with self.engine.begin() as conn:
            return AlertService(conn, self.rules, self.now()).handle(event)

    def handle_in(self, event: Event, conn: Connection) -> list[Alert]:
        """Same as ``handle`` inside the caller's transaction (EventConsumer: cursor moves with the alerts)."""
        return AlertService(conn, self.rules, self.now()).handle(event)

    def handle_batch_in(self, events: list[Event], conn: Connection) -> list[Alert]:
        """A batch of events in the caller's transaction, muting and notifications computed once (EventConsumer)."""
        return AlertService(conn, self.rules, self.now()).handle_many(events)

    def tick(self, now: datetime | None = None) -> TickResult:
        with self.engine.begin() as conn:
            return AlertService(conn, self.rules, now or self.now()).tick()

    def subscribe(self, bus: Any) -> None:
        for kind in (EventKind.ANOMALY, EventKind.SENSOR_HEALTH, EventKind.RISK_LEVEL):
            bus.subscribe(kind, self.handle)

