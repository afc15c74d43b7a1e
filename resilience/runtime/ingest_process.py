"""The ingest process: MQTT in, validated readings stored, acknowledged after the commit; its metrics (rates,
rejections by reason, batch times, its own progress) on ``--metrics-port``."""

from __future__ import annotations

from prometheus_client import REGISTRY

from ingest.mqtt_worker import build_worker
from ingest.pipeline import preset_metrics
from resilience.core.logs import setup_logging
from resilience.metrics.serve import serve_metrics
from resilience.metrics.workers import WorkerCollector
from resilience.core.settings import Settings


def main(settings: Settings, *, metrics_port: int | None = None) -> int:
    setup_logging(settings.log_level, settings.log_format, "ingest")
    worker = build_worker(settings)
    REGISTRY.register(WorkerCollector(worker.heartbeat))
    preset_metrics("mqtt")
    serve_metrics(settings, "ingest", metrics_port)
    worker.run()
    return 0
