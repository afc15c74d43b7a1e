"""The detector process: committed readings from the hand-off, scored, anomaly events into the log; its own
progress (backlog, oldest unscored input) on ``--metrics-port``."""

from __future__ import annotations

from prometheus_client import REGISTRY

from resilience.core.logs import setup_logging
from resilience.metrics.serve import serve_metrics
from resilience.metrics.workers import WorkerCollector
from resilience.core.settings import Settings
from resilience.store.db import make_engine
from resilience.workers.detector_worker import DetectionWorker


def main(settings: Settings, *, metrics_port: int | None = None) -> int:
    setup_logging(settings.log_level, settings.log_format, "detector")
    worker = DetectionWorker(make_engine(settings.database_url), settings)
    REGISTRY.register(WorkerCollector(worker.heartbeat))
    serve_metrics(settings, "detector", metrics_port)
    worker.run()
    return 0
