"""The engine process: risk spectrum and alert service on the durable event log, plus the dispatcher.

Two consumers read the same log with their own cursors: ``risk`` (anomaly and health events -> risk
model -> risk-level events back into the log, current risk and series persisted in the same transaction)
and ``alerts`` (anomaly, health and risk-level events -> alert lifecycle + outbox). APScheduler jobs
recompute the whole spectrum every minute (ageing evidence, rainfall drivers, series heartbeat) and run
the alert tick (escalation, auto-resolve). The dispatcher drains the outbox; it LISTENs for the NOTIFY that
every outbox insert sends at commit, so an alert reaches its webhook tens of milliseconds after its event.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from resilience.clock import DataClock
from resilience.registry_cache import RegistryCache
from resilience.events import Event, EventKind
from resilience.risk.service import RiskService
from resilience.risk.store import PgRiskRepository
from resilience.settings import Settings
from resilience.store.db import Connection, Engine
from resilience.store.eventlog import EventConsumer, PgEventLog
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
        self.lock = threading.Lock()
        self.registry = registry if registry is not None else registry_cache(engine)
        fitted = self.registry.current()
        self.fitted_digest = fitted.digest
        rows = fitted.rows()
        self.service = RiskService(assets=rows["assets"], districts=rows["districts"], sensors=rows["sensors"],
                                   bus=self.bus)
        self.rain_sensors = [r["id"] for r in rows["sensors"] if r["kind"] == "rainfall"]
        log.info("risk model fitted on %d assets, %d sensors", len(rows["assets"]), len(rows["sensors"]))

    def follow_registry(self, now: datetime | None = None) -> bool:
        """Refit the model if the registry changed since it was fitted (a new asset gets its risk now, not
        after a restart); the level changes that causes are persisted and published like any other."""
        snap = self.registry.current()  # read again if older than the cache's max age
        if snap.digest == self.fitted_digest:
            return False
        rows = snap.rows()
        with self.db.begin() as conn, self.lock:
            self.service.refit(assets=rows["assets"], districts=rows["districts"], sensors=rows["sensors"],
                               now=now)
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
        with self.db.begin() as conn:
            if self.rain_sensors:
                latest = latest_values(conn, sensor_ids=self.rain_sensors, since=now - timedelta(minutes=15))
            else:
                latest = []
            with self.lock:
                for sensor_id, ts, value in latest:
                    self.service.observe_reading(sensor_id, value, ts)
                self.service.recompute_all(now)
                self._persist(conn)


def run_engine(engine: Engine, settings: Settings, *, rules_path: str | None = None, with_risk: bool = True,
               tick_s: float = 10.0) -> None:
    """Run the consumers, jobs and dispatcher until SIGINT/SIGTERM; ``with_risk=False`` runs the alert service
    alone (``resilience alerts``), for deployments that run the risk model elsewhere."""
    from alerts.channels import build_channels
    from alerts.config import load_rules
    from alerts.dispatcher import Dispatcher
    from alerts.consumer import AlertEngine
    from alerts.retry import ConflictError

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    rules = load_rules(rules_path)
    risk = RiskWorker(engine, registry_cache(engine, max_age_s=settings.registry_max_age_s)) if with_risk else None
    clock = DataClock()  # escalation, auto-resolve and risk ageing follow data time (replays, accelerated runs)
    alert_engine = AlertEngine(engine, settings, rules, now=clock)

    def timed(handle: Any) -> Any:
        def wrapper(events: Any, conn: Connection) -> Any:
            for e in events if isinstance(events, list) else [events]:
                clock.observe(e.ts)
            return handle(events, conn)
        return wrapper

    def tick() -> None:
        """A tick still conflicting after its retries (operators busy on the same alerts) is skipped, not
        half-applied: the next tick redoes all of its work from a fresh read."""
        try:
            alert_engine.tick()
        except ConflictError as exc:
            log.warning("alert tick skipped: %s", exc)

    # Each consumer has its own thread, cursor and transactions, so the risk model never holds up an alert.
    # The alerts consumer takes up to 50 events per transaction and recomputes muting once per batch (an alert
    # storm stays linear); its outbox rows NOTIFY the dispatcher at commit, which sends at once (no polling).
    # A batch that loses an optimistic-locking race is redone in a savepoint (AlertEngine.handle_batch_in);
    # if it keeps conflicting the ConflictError rolls the consumer's transaction back, the cursor stays and
    # the consumer retries the batch.
    consumers = [
        EventConsumer(engine, "alerts", timed(alert_engine.handle_in), batch=50,
                      handle_batch=timed(alert_engine.handle_batch_in),
                      kinds={EventKind.ANOMALY, EventKind.SENSOR_HEALTH, EventKind.RISK_LEVEL,
                             EventKind.PLATFORM_HEALTH}),
    ]
    jobs = BackgroundScheduler(timezone="UTC")
    jobs.add_job(tick, "interval", seconds=tick_s, id="alert-tick", max_instances=1, coalesce=True)
    if risk is not None:
        consumers.append(EventConsumer(engine, "risk", timed(risk.handle_in), max_batch_s=0.5,
                                       kinds={EventKind.ANOMALY, EventKind.SENSOR_HEALTH}))
        sys.setswitchinterval(0.001)  # CPU-bound risk work yields the GIL to the alert path within ~1 ms
        jobs.add_job(lambda: risk.recompute(clock()), "interval", seconds=60, id="risk-recompute", max_instances=1,
                     coalesce=True, next_run_time=datetime.now(UTC))  # the spectrum exists from the first second
    jobs.start()
    threads: list[threading.Thread] = []
    for c in consumers:
        c.stop_event = stop
        threads.append(threading.Thread(target=c.run_forever, name=f"consumer-{c.name}", daemon=True))
    dispatcher: Any = Dispatcher(engine, build_channels(settings, rules))
    threads.append(threading.Thread(target=dispatcher.run_forever, args=(stop,), name="dispatcher", daemon=True))
    for t in threads:
        t.start()
    log.info("engine running: %s consumers, dispatcher", " + ".join(c.name for c in consumers))
    stop.wait()
    jobs.shutdown(wait=False)
    for t in threads:
        t.join(5)
