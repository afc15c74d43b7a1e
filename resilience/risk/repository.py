"""Where current risk and its history are kept: a small protocol and an in-memory implementation.

``resilience.risk.store.PgRiskRepository`` implements the same protocol over ``risk_current`` and
``risk_series``; unit tests and backtests use ``InMemoryRiskRepository``. Bucketed queries return the
max level and the average and max score of the *stored* points per bucket (changes plus heartbeats,
see ``SeriesRecorder``), with buckets aligned like SQL ``date_bin`` on 2000-01-01 UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from resilience.core.domain import Level
from resilience.risk.series import SeriesPoint, bucket_start


@dataclass(frozen=True, slots=True)
class CurrentRow:
    """One row of ``risk_current``."""

    scope: str
    hazard: str
    score: float
    level: Level
    updated_at: datetime
    likelihood: int | None = None
    consequence: int | None = None
    factors: list[dict[str, Any]] = field(default_factory=list)
    explanation: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "hazard": self.hazard,
            "score": round(self.score, 4),
            "level": self.level.label,
            "likelihood": self.likelihood,
            "consequence": self.consequence,
            "factors": self.factors,
            "explanation": self.explanation,
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class SeriesBucket:
    """A bucket of stored points (or one raw point when no bucket width is asked for)."""

    hazard: str
    bucket: datetime
    level: Level
    avg_score: float
    max_score: float
    n: int
    explanation: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "hazard": self.hazard,
            "bucket": self.bucket.isoformat(),
            "level": self.level.label,
            "avg_score": round(self.avg_score, 4),
            "max_score": round(self.max_score, 4),
            "n": self.n,
            "explanation": self.explanation,
        }


class RiskRepository(Protocol):
    def write_current(self, rows: Sequence[CurrentRow]) -> None:
        """Upsert current rows by (scope, hazard)."""

    def append_series(self, points: Sequence[SeriesPoint]) -> None:
        """Add history points; a point at an existing (scope, hazard, ts) replaces it."""

    def query_series(
        self, scope: str, hazard: str | None, start: datetime, end: datetime, bucket: timedelta | None = None
    ) -> list[SeriesBucket]:
        """Points with start <= ts < end, bucketed when ``bucket`` is given; ordered by hazard, time."""

    def query_district_series(
        self, hazard: str, start: datetime, end: datetime, bucket: timedelta
    ) -> dict[str, list[SeriesBucket]]:
        """One hazard's buckets for every district (by scope, ``district:ID``) that has points; in time order."""

    def read_current(
        self, *, scope: str | None = None, scope_prefix: str | None = None, hazard: str | None = None
    ) -> list[CurrentRow]:
        """Current rows, filtered by exact scope or scope prefix (e.g. ``district:``) and hazard."""


class InMemoryRiskRepository:
    """Dict-backed repository with the same semantics as the PostgreSQL one."""

    def __init__(self) -> None:
        self.current: dict[tuple[str, str], CurrentRow] = {}
        self.series: dict[tuple[str, str, datetime], SeriesPoint] = {}

    def write_current(self, rows: Sequence[CurrentRow]) -> None:
        for r in rows:
            self.current[(r.scope, r.hazard)] = r

    def append_series(self, points: Sequence[SeriesPoint]) -> None:
        for p in points:
            self.series[(p.scope, p.hazard, p.ts)] = p

    def read_current(
        self, *, scope: str | None = None, scope_prefix: str | None = None, hazard: str | None = None
    ) -> list[CurrentRow]:
        rows = [
            r
            for r in self.current.values()
            if (scope is None or r.scope == scope)
            and (scope_prefix is None or r.scope.startswith(scope_prefix))
            and (hazard is None or r.hazard == hazard)
        ]
        return sorted(rows, key=lambda r: (r.scope, r.hazard))

    def query_series(
        self, scope: str, hazard: str | None, start: datetime, end: datetime, bucket: timedelta | None = None
    ) -> list[SeriesBucket]:
        pts = sorted(
            (
                p
                for p in self.series.values()
                if p.scope == scope and (hazard is None or p.hazard == hazard) and start <= p.ts < end
            ),
            key=lambda p: (p.hazard, p.ts),
        )
        if bucket is None:
            return [SeriesBucket(p.hazard, p.ts, p.level, p.score, p.score, 1, p.explanation) for p in pts]
        groups: dict[tuple[str, datetime], list[SeriesPoint]] = {}
        for p in pts:
            groups.setdefault((p.hazard, bucket_start(p.ts, bucket)), []).append(p)
        return [
            SeriesBucket(
                h,
                b,
                max(p.level for p in g),
                sum(p.score for p in g) / len(g),
                max(p.score for p in g),
                len(g),
                _max_level_explanation(g),
            )
            for (h, b), g in sorted(groups.items())
        ]

    def query_district_series(
        self, hazard: str, start: datetime, end: datetime, bucket: timedelta
    ) -> dict[str, list[SeriesBucket]]:
        return _district_series(self, hazard, start, end, bucket)


def _district_series(
    repo: InMemoryRiskRepository, hazard: str, start: datetime, end: datetime, bucket: timedelta
) -> dict[str, list[SeriesBucket]]:
    scopes = sorted({p.scope for p in repo.series.values() if p.scope.startswith("district:") and p.hazard == hazard})
    out = {s: repo.query_series(s, hazard, start, end, bucket) for s in scopes}
    return {s: buckets for s, buckets in out.items() if buckets}


def _max_level_explanation(points: Sequence[SeriesPoint]) -> str:
    """The explanation of the earliest point at the bucket's max level: the change that set that level."""
    top = max(p.level for p in points)
    return min((p for p in points if p.level == top), key=lambda p: p.ts).explanation
