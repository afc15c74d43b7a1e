"""The platform seen from the store, for Prometheus: consumer lag on the hand-off and the event log,
heartbeats (and which workers are stalled), open alerts by level and hazard, the outbox backlog.

Collected by one process (the scheduler: one per deployment, so the series are not repeated by every
replica), from one statement per scrape at most: a result is reused for ``max_age_s``, so several
scrapers cost one query. A store that does not answer never fails the scrape: it reads
``lifeline_store_stats_up 0`` and the store's series are left out until it answers again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from resilience.core.domain import Hazard, Level
from resilience.ops.health import judge
from resilience.core.settings import Settings
from resilience.store import handoff
from resilience.store.db import Engine
from resilience.store.platform_stats import OPEN_STATES, PlatformStats, platform_stats

log = logging.getLogger(__name__)
LEVELS = [lv for lv in Level if lv > 0]
CHANNELS = ("webhook", "email", "mqtt")


def level_name(level: int) -> str:
    """``red``, ``orange`` ...: the label Grafana maps to a name and colour (an unknown number as itself)."""
    try:
        return Level(level).name.lower()
    except ValueError:
        return str(level)


class PlatformCollector(Collector):
    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        max_age_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.max_age_s = max_age_s
        self.clock = clock
        self._lock = threading.Lock()
        self._last: tuple[float, PlatformStats | None, float] | None = None  # (read at, stats, query seconds)

    def describe(self) -> Iterator[Metric]:
        """The families without reading the store (registration must not query)."""
        return iter(_Families().all())

    def collect(self) -> Iterator[Metric]:
        stats, seconds = self._read()
        f = _Families()
        f.up.add_metric([], 0.0 if stats is None else 1.0)
        f.query_seconds.add_metric([], seconds)
        if stats is not None:
            self._fill(f, stats)
        return iter(f.all())

    def _read(self) -> tuple[PlatformStats | None, float]:
        with self._lock:  # concurrent scrapes wait for one query and share it
            now = self.clock()
            if self._last is not None and now - self._last[0] < self.max_age_s:
                return self._last[1], self._last[2]
            start = time.perf_counter()
            stats: PlatformStats | None
            try:
                with self.engine.begin() as conn:
                    shards = {handoff.consumer_name(s): s for s in range(self.settings.detection_shards)}
                    stats = platform_stats(conn, shards)
            except Exception:  # noqa: BLE001 - the scrape reports the failure as up 0, never as an error
                log.warning("platform metrics not read from the store", exc_info=True)
                stats = None
            seconds = time.perf_counter() - start
            self._last = (now, stats, seconds)
            return stats, seconds

    def _fill(self, f: _Families, stats: PlatformStats) -> None:
        for c in stats.consumers:
            labels = [c.consumer, c.log]
            f.lag.add_metric(labels, float(c.lag))
            f.lag_seconds.add_metric(labels, c.oldest_s)
            f.processed.add_metric(labels, float(c.processed))
        for hb in stats.heartbeats:
            labels = [hb.worker, hb.role]
            st = judge(hb, stats.now, self.settings.stall_after_s)
            f.beat_age.add_metric(labels, st.last_beat_s)
            f.backlog.add_metric(labels, float(hb.backlog))
            f.pending.add_metric(labels, hb.oldest_pending_s)
            f.stalled.add_metric(labels, 0.0 if st.ok else 1.0)
        counts = {(level_name(lv), hz.value, state): 0 for lv in LEVELS for hz in Hazard for state in OPEN_STATES}
        for a in stats.open_alerts:
            key = (level_name(a.level), a.hazard, a.state)
            counts[key] = counts.get(key, 0) + a.count
        for (level, hazard, state), n in sorted(counts.items()):
            f.open_alerts.add_metric([level, hazard, state], float(n))
        outbox = {ch: (0, 0.0) for ch in CHANNELS} | {o.channel: (o.pending, o.overdue_s) for o in stats.outbox}
        for channel, (pending, overdue) in sorted(outbox.items()):
            f.outbox.add_metric([channel], float(pending))
            f.overdue.add_metric([channel], overdue)


class _Families:
    """One scrape's metric families (fresh each time: a family collects the samples of one scrape)."""

    def __init__(self) -> None:
        consumer, worker, g = ["consumer", "log"], ["worker", "role"], GaugeMetricFamily
        self.up = g("lifeline_store_stats_up", "1 if the store answered the last metrics query")
        self.query_seconds = g("lifeline_store_stats_query_seconds", "How long the last metrics query took")
        self.lag = g("lifeline_consumer_lag", "Rows of its log past a consumer's cursor", labels=consumer)
        self.lag_seconds = g(
            "lifeline_consumer_lag_seconds", "Age of the oldest row past a consumer's cursor (0: none)", labels=consumer
        )
        self.processed = CounterMetricFamily(
            "lifeline_consumer_processed", "Items a consumer has handed on (readings, events)", labels=consumer
        )
        self.beat_age = g("lifeline_heartbeat_age_seconds", "Time since a worker's last heartbeat", labels=worker)
        self.backlog = g("lifeline_heartbeat_backlog", "Backlog in a worker's last heartbeat", labels=worker)
        self.pending = g(
            "lifeline_heartbeat_oldest_pending_seconds", "Oldest unprocessed input in its last heartbeat", labels=worker
        )
        self.stalled = g("lifeline_heartbeat_stalled", "1 if /readyz judges the worker stalled", labels=worker)
        self.open_alerts = g(
            "lifeline_alerts_open", "Alerts firing or acknowledged", labels=["level", "hazard", "state"]
        )
        self.outbox = g("lifeline_outbox_pending", "Notifications waiting to be sent", labels=["channel"])
        self.overdue = g(
            "lifeline_outbox_overdue_seconds", "How long the most overdue notification has been due", labels=["channel"]
        )

    def all(self) -> list[Metric]:
        return [
            self.up,
            self.query_seconds,
            self.lag,
            self.lag_seconds,
            self.processed,
            self.beat_age,
            self.backlog,
            self.pending,
            self.stalled,
            self.open_alerts,
            self.outbox,
            self.overdue,
        ]
