"""PostgreSQL implementation of ``RiskRepository`` over ``risk_current`` and ``risk_series``.

Works on a given ``sqlalchemy.Connection``; the caller owns the transaction. Series rows go through
the time-series backend's ``ensure_partitions`` first (native daily partitions; a no-op on
TimescaleDB). Buckets use ``date_bin`` on 2000-01-01 UTC, which plain PostgreSQL >= 14 has.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Connection, RowMapping, text

from resilience.core.domain import Level
from resilience.risk.repository import CurrentRow, SeriesBucket
from resilience.risk.series import SeriesPoint
from resilience.store.timeseries import TimeSeriesBackend, get_backend

# The engine's risk model is the one writer of these rows and its latest assessment is the truth, whatever the
# time of the event that changed it: a late reading (a utility's backlog) that raises an asset to red must show
# as red. So a write always lands; its time only moves forward (a late event does not set the clock back).
_UPSERT_CURRENT = text("""
    INSERT INTO risk_current (scope, hazard, score, level, likelihood, consequence, factors, explanation, updated_at)
    VALUES (:scope, :hazard, :score, :level, :likelihood, :consequence, CAST(:factors AS jsonb), :explanation,
            :updated_at)
    ON CONFLICT (scope, hazard) DO UPDATE SET
        score = EXCLUDED.score, level = EXCLUDED.level, likelihood = EXCLUDED.likelihood,
        consequence = EXCLUDED.consequence, factors = EXCLUDED.factors, explanation = EXCLUDED.explanation,
        updated_at = GREATEST(risk_current.updated_at, EXCLUDED.updated_at)
""")

_INSERT_SERIES = text("""
    INSERT INTO risk_series (scope, hazard, ts, score, level, explanation)
    VALUES (:scope, :hazard, :ts, :score, :level, :explanation)
    ON CONFLICT (scope, hazard, ts) DO UPDATE SET
        score = EXCLUDED.score, level = EXCLUDED.level, explanation = EXCLUDED.explanation
""")

_BUCKETED = """
    SELECT hazard, date_bin(CAST(:bucket AS interval), ts, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
           max(level) AS level, avg(score) AS avg_score, max(score) AS max_score, count(*) AS n,
           (array_agg(explanation ORDER BY level DESC, ts ASC))[1] AS explanation
    FROM risk_series
    WHERE scope = :scope AND ts >= :start AND ts < :end {hazard}
    GROUP BY 1, 2 ORDER BY 1, 2
"""

# every registered district, for one hazard: the key (scope, hazard, ts) read once per district (a scope
# range would depend on the database's collation)
_DISTRICTS_BUCKETED = """
    SELECT scope, hazard, date_bin(CAST(:bucket AS interval), ts, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
           max(level) AS level, avg(score) AS avg_score, max(score) AS max_score, count(*) AS n,
           (array_agg(explanation ORDER BY level DESC, ts ASC))[1] AS explanation
    FROM risk_series
    WHERE scope = ANY(ARRAY(SELECT 'district:' || id FROM districts))
      AND hazard = :hazard AND ts >= :start AND ts < :end
    GROUP BY 1, 2, 3 ORDER BY 1, 3
"""

_RAW = """
    SELECT hazard, ts AS bucket, level, score AS avg_score, score AS max_score, 1 AS n, explanation
    FROM risk_series
    WHERE scope = :scope AND ts >= :start AND ts < :end {hazard}
    ORDER BY 1, 2
"""


class PgRiskRepository:
    """Risk rows in PostgreSQL through one caller-owned connection."""

    def __init__(self, conn: Connection, backend: TimeSeriesBackend | None = None) -> None:
        self.conn = conn
        self._backend = backend

    @property
    def backend(self) -> TimeSeriesBackend:
        if self._backend is None:
            self._backend = get_backend(self.conn)
        return self._backend

    def write_current(self, rows: Sequence[CurrentRow]) -> None:
        if not rows:
            return
        self.conn.execute(
            _UPSERT_CURRENT,
            [
                {
                    "scope": r.scope,
                    "hazard": r.hazard,
                    "score": float(r.score),
                    "level": int(r.level),
                    "likelihood": r.likelihood,
                    "consequence": r.consequence,
                    "factors": json.dumps(r.factors, default=str),
                    "explanation": r.explanation,
                    "updated_at": r.updated_at,
                }
                for r in rows
            ],
        )

    def append_series(self, points: Sequence[SeriesPoint]) -> None:
        if not points:
            return
        self.backend.ensure_partitions(self.conn, "risk_series", {p.ts.date() for p in points})
        self.conn.execute(
            _INSERT_SERIES,
            [
                {
                    "scope": p.scope,
                    "hazard": p.hazard,
                    "ts": p.ts,
                    "score": float(p.score),
                    "level": int(p.level),
                    "explanation": p.explanation,
                }
                for p in points
            ],
        )

    def query_series(
        self, scope: str, hazard: str | None, start: datetime, end: datetime, bucket: timedelta | None = None
    ) -> list[SeriesBucket]:
        params: dict[str, object] = {"scope": scope, "start": start, "end": end}
        where = ""
        if hazard:
            where = "AND hazard = :hazard"
            params["hazard"] = hazard
        if bucket is not None:
            params["bucket"] = bucket
            rows = self.conn.execute(text(_BUCKETED.format(hazard=where)), params).mappings()
        else:
            rows = self.conn.execute(text(_RAW.format(hazard=where)), params).mappings()
        return [_bucket(r) for r in rows]

    def query_district_series(
        self, hazard: str, start: datetime, end: datetime, bucket: timedelta
    ) -> dict[str, list[SeriesBucket]]:
        params = {"hazard": hazard, "start": start, "end": end, "bucket": bucket}
        out: dict[str, list[SeriesBucket]] = {}
        for r in self.conn.execute(text(_DISTRICTS_BUCKETED), params).mappings():
            out.setdefault(r["scope"], []).append(_bucket(r))
        return out

    def read_current(
        self, *, scope: str | None = None, scope_prefix: str | None = None, hazard: str | None = None
    ) -> list[CurrentRow]:
        clauses, params = [], {}
        if scope is not None:
            clauses.append("scope = :scope")
            params["scope"] = scope
        if scope_prefix is not None:
            clauses.append("starts_with(scope, :prefix)")
            params["prefix"] = scope_prefix
        if hazard is not None:
            clauses.append("hazard = :hazard")
            params["hazard"] = hazard
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        rows = self.conn.execute(
            text(
                "SELECT scope, hazard, score, level, likelihood, consequence, factors, explanation, updated_at "
                f"FROM risk_current {where} ORDER BY scope, hazard"
            ),
            params,
        ).mappings()
        return [
            CurrentRow(
                r["scope"],
                r["hazard"],
                float(r["score"]),
                Level(int(r["level"])),
                r["updated_at"],
                r["likelihood"],
                r["consequence"],
                list(r["factors"] or []),
                r["explanation"] or "",
            )
            for r in rows
        ]


def _bucket(r: RowMapping) -> SeriesBucket:
    return SeriesBucket(
        r["hazard"],
        r["bucket"],
        Level(int(r["level"])),
        float(r["avg_score"]),
        float(r["max_score"]),
        int(r["n"]),
        r.get("explanation") or "",
    )
