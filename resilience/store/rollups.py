"""Rollups that are always right on the native path: TimescaleDB's invalidation model, by hand.

``rollup_threshold`` is the instant below which the rollups may already be materialized. Every write
(``insert_new_readings``: MQTT, HTTP, back-fill, replay) reads it under a shared advisory lock and logs, in
its own transaction, each sensor's range of new readings older than it in ``rollup_invalidations``; a
real-time reading is newer and logs nothing. The scheduler moves the threshold in a short transaction of
its own under the exclusive lock, which waits for the writers in flight: a writer that read the old
threshold has committed before the refresh reads, and one that comes later sees the new threshold and
logs. Then, in bounded transactions, it materializes each level from its watermark up to the threshold and
rewrites exactly the logged ranges, deleting the log rows it consumed in the same transaction (by id: a
range logged meanwhile stays for the next step). Queries read ``readings_1m_parts`` / ``readings_1h_parts``
(migration 0011): rollups where complete, raw readings after the watermark and in ranges still logged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, text

from resilience.core.domain import Reading

ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)  # date_bin's origin everywhere in the store
THRESHOLD_LOCK = 72_011_001  # advisory key of migration 0011: writers share it, the threshold move takes it
REFRESH_LOCK = 72_011_002  # one refresher at a time, so an older snapshot never overwrites a newer one
CHUNK_SPAN = timedelta(days=7)  # sensor-time rewritten from the log per transaction
MAX_ADVANCE = timedelta(days=1)  # how far past its next reading a watermark moves per transaction
# readings this late are live, not late: they log nothing (queries read them raw until the watermark passes)
THRESHOLD_LAG = timedelta(minutes=2)
LOG_ROWS = 1000  # log rows read per transaction
_DAY_S = 86_400


@dataclass(frozen=True)
class Level:
    name: str
    width: timedelta
    source: str  # aggregated from this table: raw readings, or the finer level


LEVELS = (
    Level("readings_1m", timedelta(minutes=1), "readings"),
    Level("readings_1h", timedelta(hours=1), "readings_1m"),
)
COARSEST = max(level.width for level in LEVELS)
# per source: its time column and the rollup columns (n, sum, min, max, last, last_ts) from it
_AGGREGATES = {
    "readings": ("ts", "count(*), sum(value), min(value), max(value), (array_agg(value ORDER BY ts DESC))[1], max(ts)"),
    "readings_1m": (
        "bucket",
        "sum(n), sum(sum), min(min), max(max), (array_agg(last ORDER BY last_ts DESC))[1], max(last_ts)",
    ),
}
_SPANS = "unnest(CAST(:s AS text[]), CAST(:a AS timestamptz[]), CAST(:b AS timestamptz[])) AS r(sensor_id, a, b)"

Span = tuple[str, datetime, datetime]  # (sensor_id, start, end), end exclusive


def floor(t: datetime, width: timedelta) -> datetime:
    """The start of the bucket ``t`` falls in, as ``date_bin(width, t, ORIGIN)`` computes it."""
    return ORIGIN + ((t - ORIGIN) // width) * width


def log_late(conn: Connection, readings: Sequence[Reading]) -> int:
    """Log the ranges of these new readings that the rollups may have passed; how many ranges were logged.

    Call it in the writing transaction, after the rows are in: the shared lock it takes is held to the
    commit, so the threshold cannot move between this check and the readings becoming visible.
    """
    threshold = conn.execute(text("SELECT rollup_threshold_shared()")).scalar_one()
    spans: dict[tuple[str, int], list[datetime]] = {}
    for r in readings:
        if r.ts < threshold:
            span = spans.setdefault((r.sensor_id, int(r.ts.timestamp()) // _DAY_S), [r.ts, r.ts])
            span[0], span[1] = min(span[0], r.ts), max(span[1], r.ts)
    if not spans:
        return 0
    conn.execute(
        text(
            "INSERT INTO rollup_invalidations (sensor_id, lo, hi) SELECT * FROM unnest(CAST(:s AS text[]), "
            "CAST(:lo AS timestamptz[]), CAST(:hi AS timestamptz[]))"
        ),
        {"s": [k[0] for k in spans], "lo": [v[0] for v in spans.values()], "hi": [v[1] for v in spans.values()]},
    )
    return len(spans)


def move_threshold(conn: Connection, now: datetime) -> datetime:
    """Move the threshold to ``THRESHOLD_LAG`` before ``now``; run alone in a transaction committed
    before the refresh."""
    conn.execute(text("SET LOCAL lock_timeout = '5s'"))  # writers queue behind this lock: keep it short
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": THRESHOLD_LOCK})
    moved: datetime = conn.execute(
        text("UPDATE rollup_threshold SET threshold = greatest(threshold, :t) WHERE id = 1 RETURNING threshold"),
        {"t": floor(now - THRESHOLD_LAG, LEVELS[0].width)},
    ).scalar_one()
    return moved


def refresh(conn: Connection) -> int:
    """One bounded step: each level's watermark towards the threshold, then ranges from the log.

    Returns rollup rows written plus log rows consumed: 0 when the rollups are up to date (or another
    refresher is running)."""
    if not conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": REFRESH_LOCK}).scalar():
        return 0
    threshold = conn.execute(text("SELECT threshold FROM rollup_threshold WHERE id = 1")).scalar_one()
    return _advance(conn, threshold) + _consume_log(conn)


def _advance(conn: Connection, threshold: datetime) -> int:
    written, limit = 0, threshold
    for level in LEVELS:  # finest first: a coarser level is built from the finer one up to its watermark
        wm = conn.execute(
            text("SELECT watermark FROM rollup_state WHERE name = :n FOR UPDATE"), {"n": level.name}
        ).scalar_one()
        limit = floor(min(limit, threshold), level.width)
        # a stretch without readings (the first run, a quiet spell) is passed in one step
        after = conn.execute(text("SELECT min(ts) FROM readings WHERE ts >= :w"), {"w": wm}).scalar()
        reach = limit if after is None else floor(max(after, wm), level.width) + MAX_ADVANCE
        upto = max(wm, min(limit, floor(reach, level.width)))
        if upto > wm:
            written += _rewrite_range(conn, level, wm, upto)
        conn.execute(text("UPDATE rollup_state SET watermark = :w WHERE name = :n"), {"w": upto, "n": level.name})
        limit = upto
    return written


def _insert_sql(level: Level, source: str) -> str:
    tcol, aggregates = _AGGREGATES[level.source]
    secs = int(level.width.total_seconds())
    return (
        f"INSERT INTO {level.name} (sensor_id, bucket, n, sum, min, max, last, last_ts) "
        f"SELECT x.sensor_id, date_bin(make_interval(secs => {secs}), x.{tcol}, TIMESTAMPTZ '2000-01-01'), "
        f"{aggregates} FROM {source.format(t=tcol)} GROUP BY 1, 2"
    )


def _rewrite_range(conn: Connection, level: Level, start: datetime, end: datetime) -> int:
    """Rebuild every sensor's buckets of one level in [start, end) from its source."""
    args = {"a": start, "b": end}
    conn.execute(text(f"DELETE FROM {level.name} WHERE bucket >= :a AND bucket < :b"), args)
    sql = _insert_sql(level, f"{level.source} x WHERE x.{{t}} >= :a AND x.{{t}} < :b")
    return conn.execute(text(sql), args).rowcount or 0


def _rewrite_spans(conn: Connection, level: Level, spans: Sequence[Span]) -> int:
    """Rebuild one level's buckets in these non-overlapping per-sensor spans (delete first: a bucket whose
    readings are gone must go too)."""
    args = {"s": [s[0] for s in spans], "a": [s[1] for s in spans], "b": [s[2] for s in spans]}
    conn.execute(
        text(
            f"DELETE FROM {level.name} t USING {_SPANS} "
            "WHERE t.sensor_id = r.sensor_id AND t.bucket >= r.a AND t.bucket < r.b"
        ),
        args,
    )
    # LATERAL fenced by OFFSET 0: each span is read through the source's key, never by a hash join that
    # scans the whole table (the planner cannot know how few spans there are)
    lateral = (
        f"{_SPANS} CROSS JOIN LATERAL (SELECT * FROM {level.source} WHERE sensor_id = r.sensor_id "
        "AND {t} >= r.a AND {t} < r.b OFFSET 0) x"
    )
    return conn.execute(text(_insert_sql(level, lateral)), args).rowcount or 0


def _take(
    rows: Sequence[tuple[int, str, datetime, datetime]],
) -> tuple[list[Span], list[int], tuple[int, datetime] | None]:
    """Log rows to consume within ``CHUNK_SPAN``: their spans (whole coarsest buckets), the ids consumed
    whole, and the row cut short with its new start, if any."""
    spans: list[Span] = []
    ids: list[int] = []
    budget = CHUNK_SPAN
    for id_, sensor_id, lo, hi in rows:
        a, b = floor(lo, COARSEST), floor(hi, COARSEST) + COARSEST
        if b - a > budget:
            cut = a + max(COARSEST, (budget // COARSEST) * COARSEST)
            if cut < b:
                spans.append((sensor_id, a, cut))
                return spans, ids, (id_, cut)
        spans.append((sensor_id, a, b))
        ids.append(id_)
        budget -= b - a
        if budget <= timedelta(0):
            break
    return spans, ids, None


def merge(spans: Sequence[Span]) -> list[Span]:
    """Per sensor, overlapping or touching spans as one (so no reading is counted twice)."""
    out: list[Span] = []
    for s, a, b in sorted(spans):
        if out and out[-1][0] == s and a <= out[-1][2]:
            out[-1] = (s, out[-1][1], max(out[-1][2], b))
        else:
            out.append((s, a, b))
    return out


def _consume_log(conn: Connection) -> int:
    rows = conn.execute(
        text("SELECT id, sensor_id, lo, hi FROM rollup_invalidations ORDER BY id LIMIT :n"), {"n": LOG_ROWS}
    ).all()
    if not rows:
        return 0
    taken, ids, cut = _take([(r[0], r[1], r[2], r[3]) for r in rows])
    spans = merge(taken)
    written = sum(_rewrite_spans(conn, level, spans) for level in LEVELS)
    conn.execute(text("DELETE FROM rollup_invalidations WHERE id = ANY(:ids)"), {"ids": ids})
    if cut is not None:
        conn.execute(text("UPDATE rollup_invalidations SET lo = :lo WHERE id = :id"), {"id": cut[0], "lo": cut[1]})
    return written + len(taken)


def prune(conn: Connection, before: datetime) -> int:
    """Forget logged ranges whose readings retention has dropped."""
    return conn.execute(text("DELETE FROM rollup_invalidations WHERE hi < :c"), {"c": before}).rowcount or 0


def pending(conn: Connection) -> int:
    """Logged ranges not yet folded into the rollups."""
    return int(conn.execute(text("SELECT count(*) FROM rollup_invalidations")).scalar_one())
