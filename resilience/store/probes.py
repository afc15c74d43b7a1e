"""Measurements the benchmarks take straight from the database (``resilience.bench``): how many readings
landed, how fast a bare COPY goes (the ceiling for ingest), where an alert's latency went. Each opens a
plain psycopg connection to ``url`` (a throwaway benchmark database) and closes it."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime

from resilience.store.db import raw_connect


def count_readings(url: str) -> int:
    with raw_connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM readings").fetchone()
        return int(row[0]) if row else 0


def copy_seconds(url: str, rows: Sequence[tuple[str, datetime, float]]) -> float:
    """Seconds to COPY ``rows`` (sensor_id, ts, value) into a scratch table shaped like ``readings`` and
    commit; the table is dropped afterwards."""
    with raw_connect(url) as conn:
        conn.execute(
            "CREATE TABLE copy_probe (sensor_id text NOT NULL, ts timestamptz NOT NULL, "
            "value double precision NOT NULL, quality smallint NOT NULL DEFAULT 0, "
            "PRIMARY KEY (sensor_id, ts))"
        )
        conn.commit()
        t0 = time.perf_counter()
        with conn.cursor() as cur, cur.copy("COPY copy_probe (sensor_id, ts, value) FROM STDIN") as cp:
            for r in rows:
                cp.write_row(r)
        conn.commit()
        elapsed = time.perf_counter() - t0
        conn.execute("DROP TABLE copy_probe")
        conn.commit()
    return elapsed


_HOPS_SQL = """
SELECT al.asset_id,
       (SELECT extract(epoch FROM min(e.created_at)) FROM events e
         WHERE e.kind = 'anomaly' AND e.payload->>'asset_id' = al.asset_id) AS event_at,
       extract(epoch FROM min(n.created_at)) AS enqueued_at,
       extract(epoch FROM min(n.delivered_at)) AS delivered_at
FROM alerts al JOIN notifications n ON n.alert_id = al.id AND n.channel = 'webhook'
WHERE al.asset_id LIKE 'PROBE-A%' GROUP BY al.asset_id
"""


def probe_delivery_times(url: str) -> list[tuple[str, float | None, float | None, float | None]]:
    """Per probe asset (``PROBE-A…``): epoch seconds of its first anomaly event, of its first webhook row
    enqueued and of the first delivered (each None when missing)."""
    with raw_connect(url) as conn:
        rows = conn.execute(_HOPS_SQL).fetchall()
    return [(r[0], *(None if v is None else float(v) for v in r[1:4])) for r in rows]
