"""The risk side of the engine process: the in-memory risk spectrum kept in step with the event log.

``RiskWorker`` applies anomaly and health events to the ``RiskService`` and persists what changed (current
risk, series points, risk-level events) in the consumer's transaction; every minute it recomputes the whole
spectrum (ageing evidence, rainfall drivers) and refits the model if the registry changed. Everything that
writes the model's rows takes ``lock`` before its transaction begins and keeps it until commit (the risk
consumer takes it as its ``guard``), so no one waits for a row while holding the lock another row-holder
needs. The process that
runs it, with the alert service and the dispatcher, is wired in ``resilience/runtime/engine_process.py``.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

from resilience.core.registry_cache import RegistryCache
from resilience.core.events import Event
from resilience.risk.service import RiskService
from resilience.risk.store import PgRiskRepository
from resilience.store.db import Connection, Engine
from resilience.store.eventlog import PgEventLog
from resilience.store.readings import latest_values
from resilience.store.registry_snapshot import registry_cache
from resilience.workers.detector_worker import CollectingBus

log = logging.getLogger(__name__)


class RiskWorker:
    """Keeps the in-memory risk spectrum in step with the event log and persists what changes."""

    def __init__(self, engine: Engine, registry: RegistryCache | None = None) -> None:
        self.db = engine
        self.bus = CollectingBus()
        self.eventlog = PgEventLog(engine)
        self.lock = threading.RLock()  # re-entrant: the consumer holds it around handle_in, which takes it too
        self.registry = registry if registry is not None else registry_cache(engine)
        fitted = self.registry.current()
        self.fitted_digest = fitted.digest
        rows = fitted.rows()
        self.service = RiskService(
            assets=rows["assets"], districts=rows["districts"], sensors=rows["sensors"], bus=self.bus
        )
        self.rain_sensors = [r["id"] for r in rows["sensors"] if r["kind"] == "rainfall"]
        log.info("risk model fitted on %d assets, %d sensors", len(rows["assets"]), len(rows["sensors"]))

    def follow_registry(self, now: datetime | None = None) -> bool:
        """Refit the model if the registry changed since it was fitted (a new asset gets its risk now, not
        after a restart); the level changes that causes are persisted and published like any other."""
        snap = self.registry.changed_since(self.fitted_digest)  # its version now; the rows only if it moved
        if snap is None:
            return False
        rows = snap.rows()
        with self.lock, self.db.begin() as conn:
            self.service.refit(assets=rows["assets"], districts=rows["districts"], sensors=rows["sensors"], now=now)
            self.rain_sensors = [r["id"] for r in rows["sensors"] if r["kind"] == "rainfall"]
            self._persist(conn)
        self.fitted_digest = snap.digest
        log.info("risk model refitted on %d assets, %d sensors", len(rows["assets"]), len(rows["sensors"]))
        return True

    def handle_in(self, event: Event, conn: Connection) -> None:
        with self.lock:
            self.service.handle(event)
            self._persist(conn)

    def _persist(self, conn: Connection) -> None:
        changes = self.bus.drain()
        if changes:
            self.eventlog.publish_many(changes, conn=conn)
            log.info("%d risk level changes", len(changes))
        self.service.flush(PgRiskRepository(conn))

    def recompute(self, now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        self.follow_registry(now)
        with self.lock, self.db.begin() as conn:
            if self.rain_sensors:
                latest = latest_values(conn, sensor_ids=self.rain_sensors, since=now - timedelta(minutes=15))
            else:
                latest = []
            for sensor_id, ts, value in latest:
                self.service.observe_reading(sensor_id, value, ts)
            self.service.recompute_all(now)
            self._persist(conn)
