"""A worker's own view of its progress, read from it at each scrape (the heartbeat it would write next).

The store's heartbeats (``platform``) say whether a worker still beats; this says, from inside the worker
and without a query, how far behind it is: its backlog, the age of its oldest unprocessed input, and
when it last made progress.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from resilience.store.heartbeats import Heartbeat

log = logging.getLogger(__name__)


class WorkerCollector(Collector):
    """``lifeline_worker_*`` gauges from ``status()``; a status that fails yields none (the scrape goes on)."""

    def __init__(self, status: Callable[[], Heartbeat]) -> None:
        self.status = status

    def describe(self) -> Iterator[Metric]:
        return iter(self._families())

    def collect(self) -> Iterator[Metric]:
        families = self._families()
        try:
            hb = self.status()
        except Exception:  # noqa: BLE001 - a scrape must never fail because the worker is busy or broken
            log.warning("worker status not read for metrics", exc_info=True)
            return iter(())
        labels = [hb.worker, hb.role]
        backlog, pending, progress = families
        backlog.add_metric(labels, float(hb.backlog))
        pending.add_metric(labels, float(hb.oldest_pending_s))
        if hb.progress_at is not None:
            progress.add_metric(labels, hb.progress_at.timestamp())
        return iter(families)

    @staticmethod
    def _families() -> list[GaugeMetricFamily]:
        names = ["worker", "role"]
        return [
            GaugeMetricFamily("lifeline_worker_backlog", "Inputs received and not yet processed", labels=names),
            GaugeMetricFamily(
                "lifeline_worker_oldest_pending_seconds", "Age of the oldest input not yet processed", labels=names
            ),
            GaugeMetricFamily(
                "lifeline_worker_last_progress_timestamp_seconds",
                "Unix time the worker last made progress",
                labels=names,
            ),
        ]
