"""SeriesRecorder keeps changes and heartbeats only; the in-memory repository buckets like date_bin."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from resilience.core.domain import Level
from resilience.risk.repository import InMemoryRiskRepository
from resilience.risk.series import SeriesPoint, SeriesRecorder, bucket_start

T = datetime(2025, 7, 1, 12, 0, 30, tzinfo=UTC)


def test_records_first_change_and_bucket_edge_only() -> None:
    rec = SeriesRecorder(heartbeat=timedelta(minutes=5), quiet_heartbeat=None, score_decimals=2)
    assert rec.offer("asset:A", "h", T, 0.501, Level.ORANGE) is not None  # first
    assert rec.offer("asset:A", "h", T + timedelta(minutes=1), 0.504, Level.ORANGE) is None  # same rounded
    assert rec.offer("asset:A", "h", T + timedelta(minutes=2), 0.52, Level.ORANGE) is not None  # score changed
    assert rec.offer("asset:A", "h", T + timedelta(minutes=3), 0.52, Level.RED) is not None  # level changed
    assert rec.offer("asset:A", "h", T + timedelta(minutes=4), 0.52, Level.RED) is None
    edge = rec.offer("asset:A", "h", T + timedelta(minutes=4, seconds=40), 0.52, Level.RED)  # 12:05:10
    assert edge is not None and edge.score == 0.52 and edge.level == Level.RED
    assert rec.offer("asset:A", "h", T + timedelta(minutes=9), 0.52, Level.RED) is None  # 12:09:30 same bucket
    assert rec.offer("asset:A", "h", T + timedelta(minutes=4), 0.52, Level.RED) is None  # late repeat: nothing new
    late = rec.offer("asset:A", "h", T + timedelta(minutes=4), 0.9, Level.RED)  # a late change: kept, in order
    assert late is not None and late.score == 0.9 and late.ts == edge.ts + timedelta(milliseconds=1)
    assert rec.offer("asset:B", "h", T + timedelta(minutes=9), 0.52, Level.RED) is not None  # scopes independent


def test_quiet_scopes_use_longer_heartbeat() -> None:
    rec = SeriesRecorder(heartbeat=timedelta(minutes=5), quiet_heartbeat=timedelta(hours=1))
    assert rec.offer("asset:A", "h", T, 0.01, Level.NONE) is not None
    assert rec.offer("asset:A", "h", T + timedelta(minutes=20), 0.01, Level.NONE) is None
    assert rec.offer("asset:A", "h", T + timedelta(minutes=60), 0.01, Level.NONE) is not None


def test_unchanged_stream_stays_small() -> None:
    rec = SeriesRecorder(heartbeat=timedelta(minutes=5), quiet_heartbeat=None)
    kept = [p for i in range(24 * 60) if (p := rec.offer("city", "h", T + timedelta(minutes=i), 0.3, Level.BLUE))]
    assert len(kept) == 24 * 12  # one per 5-minute bucket, not one per minute


def test_bucket_start_matches_date_bin_origin() -> None:
    assert bucket_start(T, timedelta(minutes=5)) == datetime(2025, 7, 1, 12, 0, tzinfo=UTC)
    assert bucket_start(T, timedelta(hours=1)) == datetime(2025, 7, 1, 12, 0, tzinfo=UTC)


def test_in_memory_bucketed_query() -> None:
    repo = InMemoryRiskRepository()
    repo.append_series(
        [
            SeriesPoint("city", "h", T, 0.2, Level.BLUE),
            SeriesPoint("city", "h", T + timedelta(minutes=1), 0.6, Level.ORANGE),
            SeriesPoint("city", "h", T + timedelta(minutes=6), 0.4, Level.YELLOW),
            SeriesPoint("city", "g", T, 0.9, Level.RED),
            SeriesPoint("asset:A", "h", T, 0.9, Level.RED),
        ]
    )
    out = repo.query_series("city", "h", T - timedelta(hours=1), T + timedelta(hours=1), timedelta(minutes=5))
    assert [(b.bucket.minute, b.level, round(b.avg_score, 3), b.max_score, b.n) for b in out] == [
        (0, Level.ORANGE, 0.4, 0.6, 2),
        (5, Level.YELLOW, 0.4, 0.4, 1),
    ]
    raw = repo.query_series("city", None, T, T + timedelta(minutes=2))
    assert [(b.hazard, b.n) for b in raw] == [("g", 1), ("h", 1), ("h", 1)]
    assert repo.query_series("city", "h", T + timedelta(minutes=7), T + timedelta(hours=1)) == []
