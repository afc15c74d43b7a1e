"""Writing and reading sensor readings: COPY in, idempotent on ``(sensor_id, ts)``; raw and bucketed out.

Bucketed queries are served from the 1-minute or 1-hour rollups when the bucket is a whole multiple of
the rollup width, through views that put raw rows where the rollups are not complete (after the
watermark, and late readings not yet refreshed), so answers are right whenever the data arrived.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta
from operator import attrgetter
from typing import NamedTuple

import psycopg
from sqlalchemy import Connection, Engine, text

from resilience.core.domain import Reading
from resilience.store.timeseries import TimeSeriesBackend

BUCKETS = {
    "1m": timedelta(minutes=1),
    "5m": timedelta(minutes=5),
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "1d": timedelta(days=1),
}
_TS = attrgetter("ts")
_ROW = attrgetter("sensor_id", "ts", "value", "quality")
AGGS = {"avg", "min", "max", "last", "count", "sum"}

_STAGE_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS readings_stage "
    "(sensor_id text, ts timestamptz, value double precision, quality smallint) ON COMMIT DELETE ROWS"
)


def _copy(cur: psycopg.Cursor, table: str, readings: Sequence[Reading]) -> None:
    """Binary COPY: about five times cheaper per row in Python than the text format."""
    with cur.copy(f"COPY {table} (sensor_id, ts, value, quality) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(["text", "timestamptz", "float8", "int2"])
        write_row = copy.write_row
        for row in map(_ROW, readings):  # the row tuples are built in C
            write_row(row)


def write_readings(conn: Connection, readings: Sequence[Reading], backend: TimeSeriesBackend) -> int:
    """COPY readings in and return how many rows were new (see ``insert_new_readings``)."""
    return len(insert_new_readings(conn, readings, backend))


def insert_new_readings(
    conn: Connection,
    readings: Sequence[Reading],
    backend: TimeSeriesBackend,
) -> Sequence[Reading]:
    """COPY readings into the table and return the ones that were new (a replay inserts nothing twice).

    Runs inside the caller's transaction, so readings, dead letters and the hand-off to detection of a
    batch commit together; what is returned is exactly what this transaction stored, so detection sees
    each stored reading once, however often a batch is redelivered. The ranges of new readings the rollups
    may have passed are logged in the same transaction (``backend.mark_late``), so no late write, on any
    path, is left out of the aggregates.
    """
    if not readings:
        return []
    days: set[date] = set(map(datetime.date, map(_TS, readings)))  # C loops: no Python frame per reading
    backend.ensure_partitions(conn, "readings", days)
    raw = conn.connection.driver_connection  # the psycopg connection under this transaction
    assert raw is not None
    # Fast path: COPY straight into the table. A replayed batch (redelivery after a crash) violates the
    # unique key; then the savepoint is rolled back and the batch goes through staging + ON CONFLICT.
    try:
        with conn.begin_nested(), raw.cursor() as cur:
            _copy(cur, "readings", readings)
    except psycopg.errors.UniqueViolation:
        pass
    else:
        backend.mark_late(conn, readings)
        return readings
    with raw.cursor() as cur:
        cur.execute(_STAGE_DDL)
        _copy(cur, "readings_stage", readings)
        cur.execute(
            "INSERT INTO readings (sensor_id, ts, value, quality) "
            "SELECT DISTINCT ON (sensor_id, ts) sensor_id, ts, value, quality FROM readings_stage "
            "ON CONFLICT (sensor_id, ts) DO NOTHING RETURNING sensor_id, ts, value, quality"
        )
        new = [Reading(sensor_id, ts, value, quality) for sensor_id, ts, value, quality in cur.fetchall()]
        cur.execute("TRUNCATE readings_stage")
    new.sort(key=lambda r: r.ts)  # RETURNING order is arbitrary; detection wants time order
    backend.mark_late(conn, new)  # only what was new: a replayed duplicate changes no bucket
    return new


def query_raw(
    conn: Connection,
    *,
    sensor_id: str,
    start: datetime,
    end: datetime,
    limit: int = 100_000,
) -> list[dict[str, object]]:
    rows = conn.execute(
        text(
            "SELECT ts, value, quality FROM readings WHERE sensor_id = :s AND ts >= :a AND ts < :b ORDER BY ts LIMIT :l"
        ),
        {"s": sensor_id, "a": start, "b": end, "l": limit},
    )
    return [dict(r._mapping) for r in rows]


def _agg_sql(agg: str) -> str:
    return {
        "avg": "sum(sum) / nullif(sum(n), 0)",
        "min": "min(min)",
        "max": "max(max)",
        "count": "sum(n)::float8",
        "sum": "sum(sum)",
        "last": "(array_agg(last ORDER BY last_ts DESC))[1]",
    }[agg]


def query_bucketed(
    conn: Connection,
    *,
    sensor_id: str,
    start: datetime,
    end: datetime,
    bucket: str,
    agg: str,
    backend: TimeSeriesBackend | None = None,
) -> tuple[list[dict[str, object]], str]:
    """Bucketed series and the rollup level read (``readings_1m`` or ``readings_1h``): rollup rows where
    they are complete, raw readings where they are not yet (after the watermark, late ranges still
    logged), so the answer is the same whenever the data arrived; the ``_parts`` view's parts on the
    native path (``_native_parts``), the view itself on TimescaleDB.
    Each bucket's ``raw`` says it was aggregated (partly) from raw readings. ``backend`` is no longer needed
    (the backend is read from the database) and is accepted for existing callers."""
    if bucket not in BUCKETS:
        raise ValueError(f"bucket must be one of {', '.join(BUCKETS)}")
    if agg not in AGGS:
        raise ValueError(f"agg must be one of {', '.join(sorted(AGGS))}")
    secs = int(BUCKETS[bucket].total_seconds())
    source = "readings_1h" if secs % 3600 == 0 else "readings_1m"
    params: dict[str, object] = {"s": sensor_id, "a": start, "b": end, "secs": secs}
    state = _native_state(conn, source, sensor_id)
    if state is None:  # TimescaleDB: the view over the continuous aggregate is the whole answer
        parts = f"SELECT * FROM {source}_parts WHERE sensor_id = :s AND bucket >= :a AND bucket < :b"
    else:
        parts, more = _native_parts(source, state, start, end)
        params |= more
    sql = f"""
        SELECT date_bin(make_interval(secs => :secs), bucket, TIMESTAMPTZ '2000-01-01') AS bucket,
               {_agg_sql(agg)} AS value, sum(n)::bigint AS n, bool_or(raw) AS raw
        FROM ({parts}) p GROUP BY 1 ORDER BY 1"""
    rows = conn.execute(text(sql), params)
    return [dict(r._mapping) for r in rows], source


_WIDTH = {"readings_1m": timedelta(minutes=1), "readings_1h": timedelta(hours=1)}
_ORIGIN = "TIMESTAMPTZ '2000-01-01'"  # date_bin's origin everywhere in the store
MAX_SPANS = 16  # pending ranges read one branch each; past this many, one lateral join reads them all


class _NativeState(NamedTuple):
    watermark: datetime
    spans: list[tuple[datetime, datetime]]  # the sensor's logged ranges, merged and bucket-aligned


def _native_state(conn: Connection, source: str, sensor_id: str) -> _NativeState | None:
    """The native rollups' watermark for ``source`` and the sensor's pending ranges (the invalidation log,
    merged as ``rollup_pending_spans`` merges it, through the log's sensor index); None on TimescaleDB."""
    row = conn.execute(
        text(f"""
            SELECT b.name, s.watermark, sp.los, sp.his
              FROM timeseries_backend b LEFT JOIN rollup_state s ON s.name = :n
             CROSS JOIN LATERAL (
                   SELECT coalesce(array_agg(lower(span) ORDER BY span), '{{}}') AS los,
                          coalesce(array_agg(upper(span) ORDER BY span), '{{}}') AS his
                     FROM (SELECT unnest(range_agg(tstzrange(date_bin(:w, lo, {_ORIGIN}),
                                  date_bin(:w, hi, {_ORIGIN}) + :w))) AS span
                             FROM rollup_invalidations WHERE sensor_id = :s) x) sp
             LIMIT 1"""),
        {"n": source, "s": sensor_id, "w": _WIDTH[source]},
    ).first()
    if row is None or row[0] == "timescaledb":
        return None
    return _NativeState(row[1], list(zip(row[2], row[3], strict=True)))


_RAW_ROW = "SELECT x.ts, 1::bigint, x.value, x.value, x.value, x.value, x.ts, true"


def _native_parts(source: str, state: _NativeState, start: datetime, end: datetime) -> tuple[str, dict[str, object]]:
    """The parts of the ``{source}_parts`` view (migration 0011) for one sensor and window, with the
    watermark and the sensor's pending ranges read first and passed as literals, so every raw read is
    pruned to its own day partitions at plan time (through the view, both were subqueries and the raw reads
    were planned over every partition: a year, 365, took 32-54 ms). Sound across the two statements: a
    bucket in a range read first is answered from raw readings even if the refresher has since rolled it
    up; a range logged after the first read belongs to a write that committed after it, as if the query
    had run just before that write. An older watermark only moves buckets from rollups to raw readings."""
    wm = state.watermark
    params: dict[str, object] = {"rb": min(end, wm), "lo": max(start, wm)}
    spans = [(max(lo, start), min(hi, wm, end)) for lo, hi in state.spans if lo < min(wm, end) and hi > start]
    rollup = (
        f"SELECT r.bucket, r.n, r.sum, r.min, r.max, r.last, r.last_ts, false AS raw FROM {source} r "
        "WHERE r.sensor_id = :s AND r.bucket >= :a AND r.bucket < :rb"
    )
    after = f"{_RAW_ROW} FROM readings x WHERE x.sensor_id = :s AND x.ts >= :lo AND x.ts < :b"
    if len(spans) > MAX_SPANS:  # one lateral join over them all (planned over the window's partitions)
        params |= {"slos": [lo for lo, _ in spans], "shis": [hi for _, hi in spans]}
        ranges = "unnest(CAST(:slos AS timestamptz[]), CAST(:shis AS timestamptz[])) p(lo, hi)"
        rollup += f" AND NOT EXISTS (SELECT 1 FROM {ranges} WHERE r.bucket >= p.lo AND r.bucket < p.hi)"
        pending = [
            f"{_RAW_ROW} FROM {ranges} CROSS JOIN LATERAL (SELECT ts, value FROM readings WHERE sensor_id = :s "
            "AND ts >= p.lo AND ts < p.hi OFFSET 0) x"
        ]
    else:  # a branch each, with literal bounds
        for i, (lo, hi) in enumerate(spans):
            params |= {f"slo{i}": lo, f"shi{i}": hi}
            rollup += f" AND NOT (r.bucket >= :slo{i} AND r.bucket < :shi{i})"
        pending = [
            f"{_RAW_ROW} FROM readings x WHERE x.sensor_id = :s AND x.ts >= :slo{i} AND x.ts < :shi{i}"
            for i in range(len(spans))
        ]
    return " UNION ALL ".join([rollup, after, *pending]), params


def latest_values(
    conn: Connection,
    *,
    sensor_ids: Sequence[str],
    since: datetime,
) -> list[tuple[str, datetime, float]]:
    """Each sensor's newest reading after ``since`` as ``(sensor_id, ts, value)``; sensors without one left out."""
    rows = conn.execute(
        text(
            "SELECT DISTINCT ON (sensor_id) sensor_id, ts, value FROM readings "
            "WHERE sensor_id = ANY(:ids) AND ts > :since ORDER BY sensor_id, ts DESC"
        ),
        {"ids": list(sensor_ids), "since": since},
    ).all()
    return [(r.sensor_id, r.ts, r.value) for r in rows]


def bucket_means(
    conn: Connection,
    *,
    sensor_ids: Sequence[str],
    start: datetime,
    end: datetime,
    bucket_s: int,
) -> list[tuple[datetime, str, float]]:
    """``(bucket, sensor_id, mean)`` over [start, end), buckets aligned to 2000-01-01, oldest first."""
    rows = conn.execute(
        text(
            "SELECT date_bin(make_interval(secs => :b), ts, TIMESTAMPTZ '2000-01-01') AS bucket, sensor_id, avg(value) "
            "FROM readings WHERE sensor_id = ANY(:ids) AND ts >= :a AND ts < :e GROUP BY 1, 2 ORDER BY 1"
        ),
        {"b": bucket_s, "ids": list(sensor_ids), "a": start, "e": end},
    ).all()
    return [(r[0], r[1], r[2]) for r in rows]


class StoredValue(NamedTuple):
    ts: datetime
    value: float
    quality: int


def sensor_window(conn: Connection, *, sensor_id: str, start: datetime, end: datetime) -> list[StoredValue]:
    """One sensor's readings over [start, end), oldest first (backtests replay these)."""
    rows = conn.execute(
        text("SELECT ts, value, quality FROM readings WHERE sensor_id = :s AND ts >= :a AND ts < :b ORDER BY ts"),
        {"s": sensor_id, "a": start, "b": end},
    ).all()
    return [StoredValue(r[0], r[1], r[2]) for r in rows]


def iter_raw(
    engine: Engine, *, sensor_id: str, start: datetime, end: datetime, chunk: int = 20_000
) -> Iterator[list[dict[str, object]]]:
    """One sensor's readings over [start, end) in time order, ``chunk`` rows at a time (keyset pages on the
    primary key, each its own short read): an export of any length holds one chunk in memory at a time."""
    after: datetime | None = None
    while True:
        with engine.connect() as conn:
            if after is None:
                rows = query_raw(conn, sensor_id=sensor_id, start=start, end=end, limit=chunk)
            else:
                rows = [
                    dict(r._mapping)
                    for r in conn.execute(
                        text(
                            "SELECT ts, value, quality FROM readings WHERE sensor_id = :s AND ts > :a AND ts < :b "
                            "ORDER BY ts LIMIT :l"
                        ),
                        {"s": sensor_id, "a": after, "b": end, "l": chunk},
                    )
                ]
        if not rows:
            return
        yield rows
        if len(rows) < chunk:
            return
        last = rows[-1]["ts"]
        assert isinstance(last, datetime)
        after = last


_NEWEST = text("SELECT max(ts) FROM readings WHERE ts > :since")
_NEWEST_PER_SENSOR = text("""
    SELECT v.sensor_id, r.ts FROM unnest(CAST(:ids AS text[])) AS v(sensor_id)
    LEFT JOIN LATERAL (SELECT ts FROM readings WHERE sensor_id = v.sensor_id ORDER BY ts DESC LIMIT 1) r ON true
""")


def newest_reading_time(conn: Connection, since: datetime | None) -> datetime | None:
    """The newest stored reading's time (after ``since``, the last one seen, so only new partitions scan)."""
    value = conn.execute(_NEWEST, {"since": since or datetime(1970, 1, 1).astimezone()}).scalar()
    return value if isinstance(value, datetime) else None


def newest_per_sensor(conn: Connection, sensor_ids: Sequence[str]) -> dict[str, datetime]:
    """Each sensor's newest stored reading time (sensors with none are left out)."""
    rows = conn.execute(_NEWEST_PER_SENSOR, {"ids": list(sensor_ids)})
    return {r[0]: r[1] for r in rows if r[1] is not None}


def stored_and_handed(conn: Connection) -> tuple[int, int, int]:
    """(readings stored, distinct (sensor, ts) among them, readings handed to detection): a bench's exact counts."""
    stored, distinct = conn.execute(text("SELECT count(*), count(DISTINCT (sensor_id, ts)) FROM readings")).one()
    handed = conn.execute(text("SELECT coalesce(sum(n), 0) FROM reading_batches")).scalar_one()
    return int(stored), int(distinct), int(handed)
