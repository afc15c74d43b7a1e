"""Worker heartbeats: each long-running worker says, every few seconds, that it lives and how far it is.

Readiness (``/readyz``), the metrics and the platform watch read them, so a stall shows as a stall:
a worker that stopped beating, or one whose oldest unprocessed input keeps ageing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from resilience.store.schema import worker_heartbeats


@dataclass(frozen=True, slots=True)
class Heartbeat:
    worker: str
    role: str  # ingest | detector | engine | dispatcher | scheduler
    beat_at: datetime
    progress_at: datetime | None
    backlog: int
    oldest_pending_s: float
    detail: dict[str, Any]


def beat(conn: Connection, hb: Heartbeat) -> None:
    # the database's clock, so beats from several machines are judged on one clock
    values = {
        "worker": hb.worker,
        "role": hb.role,
        "beat_at": func.now(),
        "progress_at": hb.progress_at,
        "backlog": hb.backlog,
        "oldest_pending_s": hb.oldest_pending_s,
        "detail": hb.detail,
    }
    stmt = pg_insert(worker_heartbeats).values(**values)
    conn.execute(
        stmt.on_conflict_do_update(index_elements=["worker"], set_={k: v for k, v in values.items() if k != "worker"})
    )


def heartbeats(conn: Connection, *, role: str | None = None) -> list[Heartbeat]:
    q = select(worker_heartbeats)
    if role is not None:
        q = q.where(worker_heartbeats.c.role == role)
    return [
        Heartbeat(r.worker, r.role, r.beat_at, r.progress_at, r.backlog, r.oldest_pending_s, dict(r.detail))
        for r in conn.execute(q.order_by(worker_heartbeats.c.worker))
    ]


def forget(conn: Connection, worker: str) -> None:
    """A worker that stops cleanly says so (it is then not a stall)."""
    conn.execute(text("DELETE FROM worker_heartbeats WHERE worker = :w"), {"w": worker})


def db_now(conn: Connection) -> datetime:
    now: datetime = conn.execute(text("SELECT now()")).scalar_one()
    return now


def _data_times(conn: Connection, role: str) -> list[datetime]:
    times = []
    for hb in heartbeats(conn, role=role):
        said = hb.detail.get("data_time")
        if isinstance(said, str):
            try:
                times.append(datetime.fromisoformat(said))
            except ValueError:
                continue
    return times


def engine_data_time(conn: Connection) -> datetime | None:
    """The data time the alert engine's timers stand at (its beat's ``data_time``), or None while no engine
    beats: what its alerts show as now. In an accelerated run or a replay behind its input, an actor that
    must act "two minutes after an alert fired" (the evaluation's duty officer) goes by this clock, not by
    the newest reading, which may be hours of data ahead of what the engine has handled."""
    return max(_data_times(conn, "engine"), default=None)


def detection_data_time(conn: Connection) -> datetime | None:
    """How far in data time detection has got: the oldest of the detectors' newest scored readings (their
    beats' ``data_time``), or None while no detector says. Accelerated runs and replays time the alert
    engine's timers by it; live it is within seconds of now."""
    return min(_data_times(conn, "detector"), default=None)
