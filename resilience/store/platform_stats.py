"""What only the store knows about the platform's progress, in one statement for a metrics scrape: each
consumer's lag on its log, every heartbeat, the open alerts by level and hazard, the outbox backlog.

One round trip, bounded by a statement timeout, over indexed lookups only (a log's head and a consumer's
next rows by ``seq``; open alerts by ``ix_alerts_state_level``; pending notifications by
``ix_notifications_due``), so a scrape costs the same however long the logs grow. A consumer's lag is the
rows past its cursor, counted up to ``LAG_COUNT_CAP``; beyond that it is estimated from the ``seq`` numbers
(which may have gaps: a sequence hands out numbers a rolled-back statement never used).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, text

from resilience.store.heartbeats import Heartbeat

STATEMENT_TIMEOUT_MS = 2000
LAG_COUNT_CAP = 10_000
OPEN_STATES = ("firing", "acknowledged")

_SQL = text(
    """
SELECT now() AS now,
  (SELECT coalesce(json_agg(json_build_object(
      'consumer', c.consumer,
      'log', CASE WHEN m.shard IS NULL THEN 'events' ELSE 'reading_batches' END,
      'position', c.last_seq,
      'processed', c.processed,
      'head', coalesce(CASE WHEN m.shard IS NULL THEN (SELECT max(e.seq) FROM events e)
                            ELSE (SELECT max(b.seq) FROM reading_batches b WHERE b.shard = m.shard) END, 0),
      'behind', CASE WHEN m.shard IS NULL
          THEN (SELECT count(*) FROM (SELECT 1 FROM events e WHERE e.seq > c.last_seq LIMIT :cap) x)
          ELSE (SELECT count(*) FROM (SELECT 1 FROM reading_batches b
                WHERE b.shard = m.shard AND b.seq > c.last_seq LIMIT :cap) x) END,
      'oldest_s', coalesce(extract(epoch FROM now() - CASE WHEN m.shard IS NULL
          THEN (SELECT e.created_at FROM events e WHERE e.seq > c.last_seq ORDER BY e.seq LIMIT 1)
          ELSE (SELECT b.created_at FROM reading_batches b
                WHERE b.shard = m.shard AND b.seq > c.last_seq ORDER BY b.seq LIMIT 1) END), 0)
    ) ORDER BY c.consumer), '[]'::json)
   FROM event_cursors c
   LEFT JOIN unnest(CAST(:names AS text[]), CAST(:shards AS int[])) AS m(consumer, shard) ON m.consumer = c.consumer
  ) AS consumers,
  (SELECT coalesce(json_agg(json_build_object(
      'worker', h.worker, 'role', h.role, 'backlog', h.backlog, 'oldest_pending_s', h.oldest_pending_s,
      'beat_age_s', extract(epoch FROM now() - h.beat_at),
      'progress_age_s', extract(epoch FROM now() - h.progress_at), 'detail', h.detail
    ) ORDER BY h.worker), '[]'::json)
   FROM worker_heartbeats h) AS heartbeats,
  (SELECT coalesce(json_agg(json_build_object('level', a.level, 'hazard', a.hazard, 'state', a.state, 'n', a.n)),
                   '[]'::json)
   FROM (SELECT level, hazard, state, count(*) AS n FROM alerts
         WHERE state = ANY(CAST(:open_states AS text[])) GROUP BY level, hazard, state) a) AS open_alerts,
  (SELECT coalesce(json_agg(json_build_object('channel', o.channel, 'n', o.n, 'overdue_s', o.overdue_s)), '[]'::json)
   FROM (SELECT channel, count(*) AS n,
                greatest(0, coalesce(extract(epoch FROM now() - min(next_attempt_at)), 0)) AS overdue_s
         FROM notifications WHERE status = 'pending' GROUP BY channel) o) AS outbox
"""
)


@dataclass(frozen=True, slots=True)
class ConsumerLag:
    """A consumer's place on its log (``events``, or one shard of ``reading_batches``)."""

    consumer: str
    log: str
    position: int  # the ``seq`` it has handled up to
    head: int  # the log's (shard's) highest numbered ``seq``
    behind: int  # numbered rows past its position, counted up to LAG_COUNT_CAP
    processed: int  # items it has handed on, ever
    oldest_s: float  # age of the oldest numbered row past its position (0: caught up)

    @property
    def lag(self) -> int:
        """Rows past the cursor: counted, or past the cap estimated from the numbers."""
        return self.behind if self.behind < LAG_COUNT_CAP else max(self.behind, self.head - self.position)


@dataclass(frozen=True, slots=True)
class OpenAlerts:
    level: int
    hazard: str
    state: str
    count: int


@dataclass(frozen=True, slots=True)
class OutboxBacklog:
    channel: str
    pending: int
    overdue_s: float  # how long the most overdue pending notification has been due (0: none is due)


@dataclass(frozen=True, slots=True)
class PlatformStats:
    now: datetime
    consumers: list[ConsumerLag]
    heartbeats: list[Heartbeat]
    open_alerts: list[OpenAlerts]
    outbox: list[OutboxBacklog]


def platform_stats(conn: Connection, hand_off: Mapping[str, int]) -> PlatformStats:
    """The platform's progress now. ``hand_off`` names the cursors that read ``reading_batches`` (consumer ->
    shard); every other cursor reads ``events``. Runs in the caller's transaction, under a statement timeout."""
    conn.execute(text(f"SET LOCAL statement_timeout = {int(STATEMENT_TIMEOUT_MS)}"))
    row = conn.execute(
        _SQL,
        {
            "names": list(hand_off),
            "shards": list(hand_off.values()),
            "open_states": list(OPEN_STATES),
            "cap": LAG_COUNT_CAP,
        },
    ).one()
    now: datetime = row.now
    return PlatformStats(
        now,
        [_consumer(c) for c in row.consumers],
        [_heartbeat(h, now) for h in row.heartbeats],
        [OpenAlerts(int(a["level"]), str(a["hazard"]), str(a["state"]), int(a["n"])) for a in row.open_alerts],
        [OutboxBacklog(str(o["channel"]), int(o["n"]), float(o["overdue_s"])) for o in row.outbox],
    )


def _consumer(c: dict[str, Any]) -> ConsumerLag:
    return ConsumerLag(
        str(c["consumer"]),
        str(c["log"]),
        int(c["position"]),
        int(c["head"]),
        int(c["behind"]),
        int(c["processed"]),
        float(c["oldest_s"]),
    )


def _heartbeat(h: dict[str, Any], now: datetime) -> Heartbeat:
    """A heartbeat row, its times rebuilt on the database's clock (as ``resilience.ops.health.judge`` wants)."""
    progress = h["progress_age_s"]
    return Heartbeat(
        str(h["worker"]),
        str(h["role"]),
        now - timedelta(seconds=float(h["beat_age_s"])),
        None if progress is None else now - timedelta(seconds=float(progress)),
        int(h["backlog"]),
        float(h["oldest_pending_s"]),
        dict(h["detail"] or {}),
    )
