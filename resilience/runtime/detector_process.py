"""The detector process: committed readings from the hand-off, scored, anomaly events into the log."""

from __future__ import annotations

from resilience.logs import setup_logging
from resilience.settings import Settings
from resilience.store.db import make_engine
from resilience.workers.detector_worker import DetectionWorker


def main(settings: Settings) -> int:
    setup_logging(settings.log_level, settings.log_format, "detector")
    DetectionWorker(make_engine(settings.database_url), settings).run()
    return 0
