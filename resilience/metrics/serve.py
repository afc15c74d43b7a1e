"""Serve a process's metrics on a port of its own, anonymously, as Prometheus scrapes them.

The port is bound to ``RESILIENCE_METRICS_HOST`` (loopback locally; the compose network's address in a
container, never published to the host), so reading metrics needs no API key: whoever can reach the
port is on the platform's own network. A port that cannot be bound is logged and the process runs on
without metrics: a taken port must not keep an ingest worker from storing readings.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from prometheus_client import Counter, Info, disable_created_metrics, start_http_server

from resilience import __version__
from resilience.core.settings import Settings

log = logging.getLogger(__name__)

# ``*_created`` series double every counter and histogram for a timestamp Prometheus does not need
disable_created_metrics()  # type: ignore[no-untyped-call]  # prometheus_client leaves it unannotated

PROCESS = Info("lifeline_process", "Which platform process serves these metrics, and its version")


def serve_metrics(settings: Settings, process: str, port: int | None) -> int | None:
    """Serve ``/metrics`` on ``port`` (0: a free port the kernel picks) and log where; the bound port, or
    None when no port was asked for or it could not be bound."""
    PROCESS.info({"process": process, "version": __version__})
    if port is None:
        return None
    try:
        server, _thread = start_http_server(port, addr=settings.metrics_host)
    except OSError as exc:
        log.error("metrics not served on %s:%d: %s", settings.metrics_host, port, exc)
        return None
    bound = int(server.server_port)
    log.info("metrics on http://%s:%d/metrics", settings.metrics_host, bound)
    return bound


def preset(counter: Counter, label_sets: Iterable[Sequence[str]]) -> None:
    """Create a labelled counter's known series at 0, so a rate exists before the first event (a series
    that appears only with its first increment hides that increment from ``rate()``)."""
    for labels in label_sets:
        counter.labels(*labels)
