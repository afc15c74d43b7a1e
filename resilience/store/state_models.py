"""Stored per-asset state models (``state_models``) and the history they are fitted on.

A fitted model is kept with its version, when it was fitted, the training window, its row count, the sensors
(column order) and the windows left out of training; the detector loads the newest per asset. Store functions
take keyword-only arguments and run in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from resilience.core.domain import Reading
from resilience.store.schema import state_model_rebaselines, state_models


@dataclass(frozen=True, slots=True)
class StoredStateModel:
    """One row of ``state_models``; ``blob`` is :func:`resilience.detection.asset_state.dump_state_model`'s."""

    asset_id: str
    version: str
    fitted_at: datetime
    train_start: datetime
    train_end: datetime
    n_rows: int
    sensor_ids: list[str]
    blob: bytes


def save_state_model(
    conn: Connection,
    *,
    asset_id: str,
    version: str,
    fitted_at: datetime,
    train_start: datetime,
    train_end: datetime,
    n_rows: int,
    sensor_ids: Sequence[str],
    excluded: list[dict[str, str]],
    blob: bytes,
) -> None:
    """Insert a fitted model; refitting identical data gives the same version, stored once."""
    conn.execute(
        pg_insert(state_models)
        .values(
            asset_id=asset_id,
            version=version,
            fitted_at=fitted_at,
            train_start=train_start,
            train_end=train_end,
            n_rows=n_rows,
            sensor_ids=list(sensor_ids),
            excluded=excluded,
            blob=blob,
        )
        .on_conflict_do_nothing(index_elements=["asset_id", "version"])
    )


def _rows(result: Any) -> list[StoredStateModel]:
    return [
        StoredStateModel(
            r.asset_id, r.version, r.fitted_at, r.train_start, r.train_end, r.n_rows, list(r.sensor_ids), bytes(r.blob)
        )
        for r in result
    ]


def newest_versions(conn: Connection) -> dict[str, str]:
    """asset_id -> version of its newest model (no blobs: cheap enough to ask every minute)."""
    rows = conn.execute(
        text(
            "SELECT DISTINCT ON (asset_id) asset_id, version FROM state_models "
            "ORDER BY asset_id, fitted_at DESC, version"
        )
    ).all()
    return {a: v for a, v in rows}


def load_state_models(conn: Connection, *, versions: dict[str, str] | None = None) -> list[StoredStateModel]:
    """The newest model of every asset, or exactly the given ``asset_id -> version`` ones (those still stored)."""
    cols = "asset_id, version, fitted_at, train_start, train_end, n_rows, sensor_ids, blob"
    if versions is None:
        return _rows(
            conn.execute(
                text(
                    f"SELECT DISTINCT ON (asset_id) {cols} FROM state_models ORDER BY asset_id, fitted_at DESC, version"
                )
            )
        )
    if not versions:
        return []
    assets, vers = zip(*sorted(versions.items()), strict=True)
    return _rows(
        conn.execute(
            text(
                f"SELECT {cols} FROM state_models JOIN unnest(CAST(:a AS text[]), CAST(:v AS text[])) AS w(a, v) "
                "ON asset_id = w.a AND version = w.v"
            ),
            {"a": list(assets), "v": list(vers)},
        )
    )


def modelled_asset_sensors(conn: Connection, *, excluded_kinds: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """asset_id -> [(sensor_id, kind)] of its active sensors outside ``excluded_kinds``, for assets with >= 2."""
    rows = conn.execute(
        text("SELECT asset_id, id, kind FROM sensors WHERE active AND NOT (kind = ANY(:ex)) ORDER BY asset_id, id"),
        {"ex": list(excluded_kinds)},
    ).all()
    out: dict[str, list[tuple[str, str]]] = {}
    for asset_id, sensor_id, kind in rows:
        out.setdefault(asset_id, []).append((sensor_id, kind))
    return {a: s for a, s in out.items() if len(s) >= 2}


def abnormal_periods(
    conn: Connection,
    *,
    asset_id: str,
    start: datetime,
    end: datetime,
) -> list[tuple[datetime, datetime]]:
    """Known abnormal time of an asset in [start, end): its anomalies (any detector) and its alerts, open ones
    up to ``end``. Training leaves them out so the model learns normal operation only."""
    rows = conn.execute(
        text(
            'SELECT start, COALESCE("end", :e) FROM anomalies WHERE asset_id = :a AND start < :e '
            'AND COALESCE("end", :e) >= :s '
            "UNION ALL SELECT first_fired_at, COALESCE(resolved_at, cleared_at, :e) FROM alerts "
            "WHERE asset_id = :a AND first_fired_at < :e AND COALESCE(resolved_at, cleared_at, :e) >= :s "
            "ORDER BY 1"
        ),
        {"a": asset_id, "s": start, "e": end},
    ).all()
    return [(a, b) for a, b in rows]


def history(
    conn: Connection, *, sensor_ids: Sequence[str], start: datetime, end: datetime, chunk: int = 50_000
) -> Iterator[Reading]:
    """Readings of the sensors in [start, end) in time order, suspect ones (quality bit 2) left out; streamed."""
    result = conn.execution_options(stream_results=True, max_row_buffer=chunk).execute(
        text(
            "SELECT sensor_id, ts, value, quality FROM readings WHERE sensor_id = ANY(:ids) AND ts >= :s AND ts < :e "
            "AND quality & 2 = 0 ORDER BY ts, sensor_id"
        ),
        {"ids": list(sensor_ids), "s": start, "e": end},
    )
    for sensor_id, ts, value, quality in result:
        yield Reading(sensor_id, ts, value, quality)


#: Re-baseline requests (``state_model_rebaselines``): the window's default and bound, the reason's length. One
#: daily cycle by default: a shorter window of an asset with a demand cycle is refused by the fit's screen (its
#: halves are different parts of the cycle, not one state).
REBASELINE_DEFAULT_HOURS = 24.0
REBASELINE_MAX_HOURS = 24.0 * 7
REBASELINE_MAX_REASON = 500


def newest_model_meta(conn: Connection, *, asset_id: str) -> tuple[str, datetime, list[str]] | None:
    """(version, fitted_at, sensor_ids) of the asset's newest model, None if it has none."""
    row = conn.execute(
        text(
            "SELECT version, fitted_at, sensor_ids FROM state_models WHERE asset_id = :a "
            "ORDER BY fitted_at DESC, version LIMIT 1"
        ),
        {"a": asset_id},
    ).first()
    return None if row is None else (row.version, row.fitted_at, list(row.sensor_ids))


def last_reading_at(conn: Connection, *, sensor_ids: Sequence[str]) -> datetime | None:
    """The time of the newest stored reading of these sensors (data time, not the wall clock)."""
    value = conn.execute(
        text("SELECT max(ts) FROM readings WHERE sensor_id = ANY(:ids)"), {"ids": list(sensor_ids)}
    ).scalar()
    return value if isinstance(value, datetime) else None


def request_rebaseline(conn: Connection, *, asset_id: str, requested_by: str, reason: str, hours: float) -> int:
    """Record a re-baseline request (``pending``); its audit id."""
    t = state_model_rebaselines
    values = {"asset_id": asset_id, "requested_by": requested_by, "reason": reason, "hours": hours}
    return int(conn.execute(t.insert().values(**values).returning(t.c.id)).scalar_one())


def claim_rebaseline(conn: Connection, *, request_id: int | None = None) -> dict[str, Any] | None:
    """Lock a pending request (the given one, or the oldest no one else holds) for the caller's transaction."""
    t = state_model_rebaselines
    q = t.select().where(t.c.status == "pending").order_by(t.c.id).limit(1).with_for_update(skip_locked=True)
    if request_id is not None:
        q = q.where(t.c.id == request_id)
    row = conn.execute(q).first()
    return None if row is None else dict(row._mapping)


def complete_rebaseline(conn: Connection, *, request_id: int, **outcome: Any) -> None:
    """Set a claimed request's outcome (``status`` fitted or refused, window, rows, versions or the reason)."""
    t = state_model_rebaselines
    conn.execute(t.update().where(t.c.id == request_id).values(completed_at=func.now(), **outcome))


def rebaselines(conn: Connection, *, asset_id: str, limit: int = 100) -> list[dict[str, Any]]:
    """The asset's re-baseline requests, newest first."""
    t = state_model_rebaselines
    rows = conn.execute(
        t.select().where(t.c.asset_id == asset_id).order_by(t.c.requested_at.desc(), t.c.id.desc()).limit(limit)
    )
    return [dict(r._mapping) for r in rows]
