"""The scheduler process: store upkeep (partitions ahead, retention, rollups on the native path; pruning of
the consumed hand-off and of old dead letters on both), the platform watch (one platform alert per
stalled worker), broker accounts following the registry, and the nightly model fits.

On TimescaleDB the same work is done by its own policies and ``maintain`` is a no-op. Detection
(silence checks, snapshots) and the engine (risk recompute, alert escalation and auto-resolve) schedule
their own jobs beside the in-memory state they touch.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from apscheduler.schedulers.blocking import BlockingScheduler
from prometheus_client import REGISTRY

from resilience.ops import broker_accounts as mqtt_auth
from resilience.detection.asset_models import train_asset_models as _train
from resilience.detection.rebaseline import run_pending
from resilience.detection.state_training import fit_state_models
from resilience.core.logs import setup_logging
from resilience.metrics.jobs import instrument_jobs
from resilience.metrics.platform import PlatformCollector
from resilience.metrics.serve import serve_metrics
from resilience.core.settings import Settings
from resilience.ops.health import watch_platform
from resilience.store import handoff, rollups
from resilience.runtime.leadership import await_leadership, fenced_engine, finish, stop_on_signals
from resilience.store.db import Engine, OperationalError
from resilience.store.dead_letters import prune_dead_letters
from resilience.store.eventlog import PgEventLog
from resilience.store.timeseries import TimeSeriesBackend, get_backend

log = logging.getLogger(__name__)


REFRESH_BUDGET_S = 20.0  # rollup refresh steps per run after the first; what is left waits a minute


def maintain_store(engine: Engine, settings: Settings, now: datetime | None = None) -> dict[str, int]:
    """Store upkeep; the rollups' threshold moves first, in a transaction of its own (see store.rollups)."""
    now = now or datetime.now(UTC)
    with engine.connect() as conn:
        backend = get_backend(conn, retention_days=settings.retention_days, partitions_ahead=settings.partitions_ahead)
    try:
        with engine.begin() as conn:
            backend.move_threshold(conn, now)
    except OperationalError as exc:  # writers in flight held the lock too long: the rollups wait a run
        log.warning("rollup threshold not moved: %s", exc)
    with engine.begin() as conn:
        result = dict(backend.maintain(conn, now))
        result["reading_batches_pruned"] = sum(
            handoff.prune(
                conn,
                shard=shard,
                consumer=handoff.consumer_name(shard),
                older_than_s=settings.reading_batches_keep_s,
                hard_limit_s=settings.reading_batches_hard_limit_s,
            )
            for shard in range(settings.detection_shards)
        )
        result["dead_letters_pruned"] = prune_dead_letters(conn, older_than_days=settings.dead_letter_retention_days)
    result["rollup_rows"] = result.get("rollup_rows", 0) + _refresh_rollups(engine, backend)
    with engine.connect() as conn:
        result["rollup_ranges_pending"] = rollups.pending(conn)
    if any(result.values()):
        log.info("store maintenance: %s", result, extra=result)
    return result


def _refresh_rollups(engine: Engine, backend: TimeSeriesBackend) -> int:
    """Bounded refresh steps, each its own transaction, while the run's budget lasts (a year's back-fill
    is folded in over several runs; queries answer from raw readings meanwhile)."""
    written, deadline = 0, time.monotonic() + REFRESH_BUDGET_S
    while time.monotonic() < deadline:
        with engine.begin() as conn:
            step = backend.refresh_rollups(conn)
        if not step:
            break
        written += step
    return written


def watch(engine: Engine, settings: Settings) -> int:
    """Every 10 s: publish stalled / recovered events for the platform's own workers."""
    log_ = PgEventLog(engine)
    with engine.begin() as conn:
        events = watch_platform(conn, lambda evs, c: log_.publish_many(list(evs), conn=c), settings.stall_after_s)
    for e in events:
        log.warning("platform watch: %s", e.explanation)
    return len(events)


def follow_registry_on_broker(engine: Engine, settings: Settings) -> list[str]:
    """Every ``mqtt_sync_s``: broker accounts for utilities new in the registry (see mqtt_auth), read through
    the scheduler's own engine (not one made and disposed of at every run)."""
    try:
        added = mqtt_auth.follow_registry(settings, engine)
    except (mqtt_auth.CredentialError, OSError) as exc:
        log.error("broker accounts not brought in step with the registry: %s", exc)
        return []
    if added:
        log.info("broker accounts added for %d utilities: %s", len(added), ", ".join(added[:20]))
    return added


def train_asset_models(engine: Engine, now: datetime | None = None) -> int:
    """Nightly: refit per-asset models on the last week (the detector reloads them within the hour)."""
    return _train(engine, now or datetime.now(UTC))


def refit_state_models(engine: Engine, now: datetime | None = None) -> int:
    """Nightly: refit per-asset state models on each asset's normal week (the detector takes the new versions
    over at its next snapshot, within a minute)."""
    return fit_state_models(engine, now or datetime.now(UTC))


def run_rebaselines(engine: Engine) -> int:
    """Every 30 s: carry out pending re-baseline requests (each fitted or refused, with the reason, in its row)."""
    return run_pending(engine)


def build_scheduler(engine: Engine, settings: Settings) -> BlockingScheduler:
    """Every periodic job of the scheduler process, not yet started."""
    scheduler = BlockingScheduler(timezone="UTC")
    scheduler.add_job(
        maintain_store,
        "interval",
        args=[engine, settings],
        seconds=60,
        id="store-maintenance",
        next_run_time=datetime.now(UTC),
        max_instances=1,
        coalesce=True,
    )
    scheduler.add_job(
        watch, "interval", args=[engine, settings], seconds=10, id="platform-watch", max_instances=1, coalesce=True
    )
    scheduler.add_job(
        follow_registry_on_broker,
        "interval",
        args=[engine, settings],
        seconds=settings.mqtt_sync_s,
        id="broker-accounts",
        next_run_time=datetime.now(UTC),
        max_instances=1,
        coalesce=True,
    )
    scheduler.add_job(
        train_asset_models,
        "cron",
        args=[engine],
        kwargs={"now": None},
        hour=3,
        minute=15,
        id="asset-model-training",
        max_instances=1,
        coalesce=True,
    )
    scheduler.add_job(
        refit_state_models,
        "cron",
        args=[engine],
        kwargs={"now": None},
        hour=3,
        minute=45,
        id="state-model-refit",
        max_instances=1,
        coalesce=True,
    )
    scheduler.add_job(  # engineers' re-baselines made through the API (the API fits nothing itself)
        run_rebaselines,
        "interval",
        args=[engine],
        seconds=30,
        id="state-model-rebaselines",
        max_instances=1,
        coalesce=True,
    )
    return scheduler


def main(settings: Settings, *, metrics_port: int | None = None) -> int:
    setup_logging(settings.log_level, settings.log_format, "scheduler")
    return run_scheduler(settings, metrics_port=metrics_port)


def run_scheduler(settings: Settings, *, metrics_port: int | None = None) -> int:
    """Run the jobs until stopped (a standby first waits for the lease); the metrics port also serves the
    store's view of the whole platform (the leading scheduler only, so those series are not repeated)."""
    stop = stop_on_signals()
    lease = await_leadership(settings, "scheduler", stop)
    engine = fenced_engine(settings, lease)
    scheduler = build_scheduler(engine, settings)
    instrument_jobs(scheduler)
    REGISTRY.register(PlatformCollector(engine, settings))
    serve_metrics(settings, "scheduler", metrics_port)
    threading.Thread(target=lambda: (stop.wait(), scheduler.shutdown(wait=False)), daemon=True).start()
    log.info(
        "scheduler running: store maintenance every 60 s, platform watch every 10 s, broker accounts every "
        "%.0f s, asset-model training daily at 03:15 UTC, state-model refit daily at 03:45 UTC",
        settings.mqtt_sync_s,
    )
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    return finish(lease)
