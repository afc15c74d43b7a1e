"""The dispatcher alone (``resilience dispatcher``): sends due outbox rows; several may run at once."""

from __future__ import annotations

import logging
import signal
import threading

from alerts.channels import build_channels
from alerts.config import load_rules
from alerts.dispatcher import OUTCOMES, SENT, Dispatcher, DispatcherOptions
from resilience.core.logs import setup_logging
from resilience.metrics.serve import preset, serve_metrics
from resilience.core.settings import Settings
from resilience.store.db import get_engine

log = logging.getLogger(__name__)


def stop_on_signal() -> threading.Event:
    """An event set by SIGINT or SIGTERM: the process finishes what it holds, then stops."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def main(
    settings: Settings, options: DispatcherOptions, *, rules_path: str | None = None, metrics_port: int | None = None
) -> int:
    setup_logging(settings.log_level, settings.log_format, "dispatcher")
    rules = load_rules(rules_path)
    channels = build_channels(settings, rules)
    preset(SENT, [(channel, outcome) for channel in channels for outcome in OUTCOMES])
    serve_metrics(settings, "dispatcher", metrics_port)
    stop = stop_on_signal()
    log.info(
        "dispatcher running: lease %.0f s, backoff %.1f..%.0f s, %d attempts",
        options.lease_s,
        options.backoff_initial_s,
        options.backoff_max_s,
        options.max_attempts,
    )
    Dispatcher(get_engine(), channels, options=options).run_forever(stop)
    return 0
