"""The engine process's wiring: the risk and alert consumers on the event log, their jobs, the dispatcher.

Two consumers read the same log with their own cursors: ``risk`` (anomaly and health events -> risk
model -> risk-level events back into the log, current risk and series persisted in the same transaction)
and ``alerts`` (anomaly, health and risk-level events -> alert lifecycle + outbox). APScheduler jobs
recompute the whole spectrum every minute (ageing evidence, rainfall drivers, series heartbeat, registry
changes) and run the alert tick (escalation, auto-resolve). The dispatcher drains the outbox; it LISTENs
for the NOTIFY that every outbox insert sends at commit, so an alert reaches its webhook tens of
milliseconds after its event. ``resilience alerts`` runs the same without the risk model.
"""

from __future__ import annotations

import logging
import sys
import threading
from datetime import UTC, datetime
from collections.abc import Callable
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from alerts.channels import build_channels
from alerts.config import load_rules
from alerts.consumer import AlertEngine
from alerts.dispatcher import OUTCOMES, SENT, Dispatcher
from alerts.retry import ConflictError
from resilience.core.clock import DataClock
from resilience.core.events import EventKind
from resilience.core.logs import setup_logging
from resilience.metrics.jobs import instrument_jobs
from resilience.metrics.serve import preset, serve_metrics
from resilience.core.settings import Settings
from resilience.runtime.leadership import await_leadership, fenced_engine, finish, stop_on_signals
from resilience.store.db import Connection, Engine
from resilience.ops.health import HeartbeatThread, utcnow
from resilience.store.heartbeats import Heartbeat, detection_data_time
from resilience.store.leases import holder_name
from resilience.store.eventlog import EventConsumer
from resilience.store.registry_snapshot import registry_cache
from resilience.workers.engine_worker import RiskWorker

log = logging.getLogger(__name__)


def beat_of(worker: str, clock: DataClock) -> Callable[[], Heartbeat]:
    """The engine's beat: alive, and the data time its alert timers stand at (``data_time``), which is what
    the console shows as now in an accelerated run or a replay (``resilience.store.heartbeats.engine_data_time``).
    None until the clock has seen data: before, it reads wall time, and an accelerated run's duty officer
    that took it as data time (a day ahead of the data) resolved every alert at the wrong time."""

    def status() -> Heartbeat:
        now = utcnow()
        data_time = clock().isoformat() if clock.newest is not None else None
        return Heartbeat(worker, "engine", now, now, 0, 0.0, {"data_time": data_time})

    return status


def main(
    settings: Settings,
    *,
    rules_path: str | None = None,
    with_risk: bool = True,
    tick_s: float = 10.0,
    metrics_port: int | None = None,
) -> int:
    """``resilience engine`` (and ``resilience alerts``, without the risk model)."""
    process = "engine" if with_risk else "alerts"
    setup_logging(settings.log_level, settings.log_format, process)
    serve_metrics(settings, process, metrics_port)
    stop = stop_on_signals()
    lease = await_leadership(settings, process, stop)  # a standby waits here
    engine = fenced_engine(settings, lease)
    run_engine(engine, settings, rules_path=rules_path, with_risk=with_risk, tick_s=tick_s, stop=stop)
    return finish(lease)


def run_engine(
    engine: Engine,
    settings: Settings,
    *,
    rules_path: str | None = None,
    with_risk: bool = True,
    tick_s: float = 10.0,
    stop: threading.Event | None = None,
) -> None:
    """Run the consumers, jobs and dispatcher until ``stop`` (else SIGINT/SIGTERM); ``with_risk=False`` runs the
    alert service alone (``resilience alerts``), for deployments that run the risk model elsewhere."""
    stop = stop if stop is not None else stop_on_signals()
    rules = load_rules(rules_path)
    risk = RiskWorker(engine, registry_cache(engine, max_age_s=settings.registry_max_age_s)) if with_risk else None
    # escalation, auto-resolve, re-opening and risk ageing follow data time (replays, accelerated runs): the
    # events' and the detectors' (their beats), at the pace the data moves between beats
    clock = DataClock(follow_rate=True)
    alert_engine = AlertEngine(engine, settings, rules, now=clock)

    def timed(handle: Any) -> Any:
        def wrapper(events: Any, conn: Connection) -> Any:
            for e in events if isinstance(events, list) else [events]:
                clock.observe(e.ts)
            return handle(events, conn)

        return wrapper

    def tick() -> None:
        """A tick still conflicting after its retries (operators busy on the same alerts) is skipped, not
        half-applied: the next tick redoes all of its work from a fresh read.

        The clock follows the detectors' time only while the alerts consumer has reached the end of the log:
        behind it, its timers (auto-resolve, re-opening, escalation) run on the events it has handled, so an
        alert is never resolved or escalated at a time its own condition has not reached yet."""
        if alerts_consumer.caught_up:
            with engine.connect() as conn:
                detected = detection_data_time(conn)
            if detected is not None:
                clock.observe(detected)
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
    alerts_consumer = EventConsumer(
        engine,
        "alerts",
        timed(alert_engine.handle_in),
        batch=50,
        handle_batch=timed(alert_engine.handle_batch_in),
        lane_lookahead=settings.alerts_lane_lookahead,  # behind a flood, reds and oranges go first
        kinds={EventKind.ANOMALY, EventKind.SENSOR_HEALTH, EventKind.RISK_LEVEL, EventKind.PLATFORM_HEALTH},
    )
    consumers = [alerts_consumer]
    jobs = BackgroundScheduler(timezone="UTC")
    jobs.add_job(tick, "interval", seconds=tick_s, id="alert-tick", max_instances=1, coalesce=True)
    if risk is not None:
        consumers.append(
            EventConsumer(
                engine,
                "risk",
                timed(risk.handle_in),
                max_batch_s=0.5,
                guard=risk.lock,  # the minute job writes the same rows: lock before rows, for both
                kinds={EventKind.ANOMALY, EventKind.SENSOR_HEALTH},
            )
        )
        sys.setswitchinterval(0.001)  # CPU-bound risk work yields the GIL to the alert path within ~1 ms
        jobs.add_job(
            lambda: risk.recompute(clock()),
            "interval",
            seconds=60,
            id="risk-recompute",
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(UTC),
        )  # the spectrum exists from the first second
    instrument_jobs(jobs)
    jobs.start()
    threads: list[threading.Thread] = []
    for c in consumers:
        c.stop_event = stop
        threads.append(threading.Thread(target=c.run_forever, name=f"consumer-{c.name}", daemon=True))
    channels = build_channels(settings, rules)
    preset(SENT, [(channel, outcome) for channel in channels for outcome in OUTCOMES])
    dispatcher: Any = Dispatcher(engine, channels)
    threads.append(threading.Thread(target=dispatcher.run_forever, args=(stop,), name="dispatcher", daemon=True))
    for t in threads:
        t.start()
    me = holder_name("engine", settings.instance)
    # every second: its data time is the clock the evaluation's duty officer acts on (120 data s at 120x)
    beats = HeartbeatThread(engine, me, "engine", beat_of(me, clock), stop, every_s=1.0).start()
    log.info("engine running: %s consumers, dispatcher", " + ".join(c.name for c in consumers))
    stop.wait()
    jobs.shutdown(wait=False)
    for t in threads:
        t.join(5)
    beats.retire()
