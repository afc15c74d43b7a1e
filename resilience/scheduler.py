"""The scheduler process: store upkeep on the native path (partitions ahead, retention, rollups).

On TimescaleDB the same work is done by its own policies and ``maintain`` is a no-op. Detection
(silence checks, snapshots) and the engine (risk recompute, alert escalation and auto-resolve) schedule
their own jobs beside the in-memory state they touch.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy import Engine

from resilience.detection.asset_models import train_asset_models as _train
from resilience.settings import Settings
from resilience.store.db import make_engine
from resilience.store.timeseries import get_backend

log = logging.getLogger(__name__)


def maintain_store(engine: Engine, settings: Settings, now: datetime | None = None) -> dict[str, int]:
    with engine.begin() as conn:
        backend = get_backend(conn, retention_days=settings.retention_days, partitions_ahead=settings.partitions_ahead)
        result = backend.maintain(conn, now or datetime.now(UTC))
    if any(result.values()):
        log.info("store maintenance: %s", result, extra=result)
    return result


def train_asset_models(engine: Engine, now: datetime | None = None) -> int:
    """Nightly: refit per-asset models on the last week (the detector reloads them within the hour)."""
    return _train(engine, now or datetime.now(UTC))


def run_scheduler(settings: Settings) -> None:
    engine = make_engine(settings.database_url)
    scheduler = BlockingScheduler(timezone="UTC")
    scheduler.add_job(maintain_store, "interval", args=[engine, settings], seconds=60, id="store-maintenance",
                      next_run_time=datetime.now(UTC), max_instances=1, coalesce=True)
    scheduler.add_job(train_asset_models, "cron", args=[engine], kwargs={"now": None}, hour=3, minute=15,
                      id="asset-model-training", max_instances=1, coalesce=True)
    log.info("scheduler running: store maintenance every 60 s, asset-model training daily at 03:15 UTC")
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
