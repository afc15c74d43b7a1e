"""The ingest process: MQTT in, validated readings stored, acknowledged after the commit."""

from __future__ import annotations

from ingest.mqtt_worker import run_worker
from resilience.logs import setup_logging
from resilience.settings import Settings


def main(settings: Settings, *, metrics_port: int | None = None) -> int:
    setup_logging(settings.log_level, settings.log_format, "ingest")
    run_worker(settings, metrics_port=metrics_port)
    return 0
