"""The evaluation's duty officer: resolves every alert ``after_s`` (simulated) after it first fired, as one would.

Once per alert: a duty officer who closed an alert on a live hazard and saw it re-open (marked as a
re-opening, notified again) leaves it to run its course; resolving every re-opening too would only count the
officer's persistence (resolve, re-open, notify, every few minutes for hours).

It goes through ``AlertService.resolve``, the call the API's resolve route makes: with ``override`` and a
reason where the alert's condition still holds, so the re-opening of alerts closed on a live hazard is
exercised. It also samples, every simulated minute, how old the value each open alert shows is against the
newest stored reading of that sensor (``value_staleness_p99_s``).

Runs are accelerated, so it follows a data clock, never wall time: the alert engine's (its beat's
``data_time``, the time its alerts stand at), and between beats only as fast as wall time
(``resilience.core.clock.DataClock`` without ``follow_rate``), so it is never ahead of the engine: an officer
ahead of it stamped resolutions the engine reached minutes of data later, and its re-open hold ran that
much longer (9 to 11 simulated minutes instead of 1). Not the newest stored reading: on a loaded machine
detection and the engine may be hours of data behind ingest, and an officer acting on that time would
resolve alerts "two minutes" after they fired at a moment their conditions have not reached yet. Until the
engine has seen data (its beat says no data time), the officer waits.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime, timedelta
from pathlib import Path

from alerts import retry, store
from alerts.config import RulesConfig
from alerts.lifecycle import LifecycleError
from alerts.service import AlertService
from resilience.core.clock import DataClock
from resilience.store.console_reads import current_values, live_alerts
from resilience.store.heartbeats import engine_data_time
from resilience.store.readings import newest_per_sensor
from resilience.store.db import Connection, Engine

log = logging.getLogger(__name__)

OPERATOR = "eval-operator"
CURRENT_LOOKBACK = timedelta(hours=6)  # as the console's values route
LIVE_ALERTS_MAX = 2000


def operate(engine: Engine, rules: RulesConfig, now: datetime, *, after_s: float = 120.0) -> list[int]:
    """Resolve every active alert that fired at least ``after_s`` before ``now``; returns their ids.

    An incident's alert resolves its members with it (the service does), so members of an active incident
    are left to it; a member whose incident is already resolved is a row of its own and resolved as one."""
    with engine.connect() as conn:
        active = store.active_alerts(conn)
        incidents = {a.fingerprint for a in active}
        due = [
            a
            for a in active
            if a.fire_count == 1
            and a.fired_at <= now - timedelta(seconds=after_s)
            and a.parent_fingerprint not in incidents
        ]
    done = []
    for a in due:
        assert a.id is not None
        reason = "eval: crew reports it handled" + (" (condition still holds)" if a.condition_active else "")
        try:
            _resolve(engine, rules, now, a.id, reason, override=a.condition_active)
        except (LifecycleError, retry.ConflictError) as exc:  # changed in between, or still busy: next round
            log.info("operator: alert %s not resolved: %s", a.id, exc)
            continue
        done.append(a.id)
    return done


def _resolve(engine: Engine, rules: RulesConfig, now: datetime, alert_id: int, note: str, *, override: bool) -> None:
    """As the API's resolve route does it: a conflict with the engine is redone from a fresh read (a crash
    on the first one left every later alert of a run unresolved)."""

    def resolve(conn: Connection) -> None:
        AlertService(conn, rules, now).resolve(alert_id, by=OPERATOR, note=note, override=override)

    retry.in_transaction(engine, resolve, what=f"operator resolving alert {alert_id}")


def sample_staleness(conn: Connection, now: datetime) -> list[float]:
    """Per sensor of each open alert: the newest stored reading's time minus the time of the value shown."""
    open_alerts = [a for a in live_alerts(conn, LIVE_ALERTS_MAX) if a.state.active]
    ids = sorted({s for a in open_alerts for s in a.sensor_ids})
    if not ids:
        return []
    shown = current_values(conn, ids, now - CURRENT_LOOKBACK)
    newest = newest_per_sensor(conn, ids)
    out = []
    for sid, stored in newest.items():
        at = (shown.get(sid) or {}).get("ts")
        if at is None:  # shown as "no recent reading": stale by everything stored since the lookback
            out.append(max(0.0, (stored - (now - CURRENT_LOOKBACK)).total_seconds()))
        else:
            out.append(max(0.0, (stored - at).total_seconds()))
    return out


def run_operator(
    engine: Engine,
    rules: RulesConfig,
    samples_path: Path,
    stop: threading.Event,
    *,
    after_s: float = 120.0,
    every_wall_s: float = 1.0,
) -> None:
    """Until ``stop``: follow the engine's clock, resolve what is due, sample staleness every simulated minute."""
    clock = DataClock()
    next_sample: datetime | None = None
    with samples_path.open("a") as out:
        while not stop.is_set():
            with engine.connect() as conn:
                seen = engine_data_time(conn)
            if seen is not None:
                clock.observe(seen)
            if clock.newest is not None:
                now = clock()
                resolved = operate(engine, rules, now, after_s=after_s)
                if resolved:
                    log.info("operator at %s resolved %s", now.isoformat(), resolved)
                if next_sample is None or now >= next_sample:
                    with engine.connect() as conn:
                        ages = sample_staleness(conn, now)
                    out.write(json.dumps({"at": now.isoformat(), "staleness_s": ages}) + "\n")
                    out.flush()
                    next_sample = now + timedelta(minutes=1)
            stop.wait(every_wall_s)
