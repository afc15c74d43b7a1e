"""Is the platform itself keeping up? Heartbeats in, one judgement per worker out.

Used by ``/readyz``, by the detector (while ingest is stalled, sensors are not judged silent: the silence
is the platform's own) and by the platform watch, which raises one platform alert instead of thousands
of silent-sensor alerts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from resilience.core.events import PlatformHealthEvent
from resilience.core.messages import Message, codes_of, make, render
from resilience.store.db import Connection, Engine
from resilience.store.heartbeats import Heartbeat, beat, db_now, forget, heartbeats
from resilience.store.snapshots import load_state, save_state

log = logging.getLogger(__name__)
BEAT_EVERY_S = 5.0
#: what the platform watch says, as message codes (resilience.core.messages) and their English templates
EN: dict[str, str] = {
    "platform.no_heartbeat": "no heartbeat for {seconds} s",
    "platform.backlog": "oldest unprocessed input is {seconds} s old (backlog {backlog})",
    "platform.broker_down": "broker unreachable for {seconds} s",
    "platform.database_down": "database unreachable for {seconds} s",
    "platform.stalled": "{role} worker {worker} stalled: {reason}",
    "platform.progressing": "{role} worker {worker} is making progress again",
    "platform.stopped_cleanly": "worker {worker} stopped cleanly",
}
CODES = codes_of(EN)


def _said(code: str, **params: object) -> tuple[str, Message]:
    """A platform message and its English sentence."""
    m = make(CODES, code, params)
    return render(m, EN), m


@dataclass(frozen=True, slots=True)
class WorkerStatus:
    worker: str
    role: str
    ok: bool
    reason: str  # why it is stalled, in English ("" while it is not); ``why`` is the same as a message
    backlog: int
    oldest_pending_s: float
    last_beat_s: float
    why: Message | None = None


def judge(hb: Heartbeat, now: datetime, stall_after_s: float) -> WorkerStatus:
    """A worker is stalled if it stopped beating, its oldest input is too old, or it lost its broker."""
    age = (now - hb.beat_at).total_seconds()
    said: tuple[str, Message] | None = None
    if age > stall_after_s:
        said = _said("platform.no_heartbeat", seconds=f"{age:.0f}")
    elif hb.oldest_pending_s > stall_after_s:
        said = _said("platform.backlog", seconds=f"{hb.oldest_pending_s:.0f}", backlog=str(hb.backlog))
    elif float(hb.detail.get("disconnected_s") or 0.0) > stall_after_s:
        said = _said("platform.broker_down", seconds=f"{float(hb.detail['disconnected_s']):.0f}")
    elif float(hb.detail.get("store_down_s") or 0.0) > stall_after_s:
        said = _said("platform.database_down", seconds=f"{float(hb.detail['store_down_s']):.0f}")
    reason, why = said if said else ("", None)
    return WorkerStatus(hb.worker, hb.role, not reason, reason, hb.backlog, hb.oldest_pending_s, age, why)


def platform_status(conn: Connection, now: datetime, stall_after_s: float) -> list[WorkerStatus]:
    return [judge(hb, now, stall_after_s) for hb in heartbeats(conn)]


def ingest_stall(conn: Connection, now: datetime, stall_after_s: float) -> str | None:
    """Why ingestion is not keeping up (a sentence), or None while every ingest worker is."""
    bad = [s for s in platform_status(conn, now, stall_after_s) if s.role == "ingest" and not s.ok]
    return "; ".join(f"{s.worker}: {s.reason}" for s in bad) or None


def ingest_horizon(conn: Connection) -> datetime | None:
    """The database time up to which every MQTT ingest worker has committed what the broker gave it, or None
    while no ingest worker beats (HTTP ingest commits before it answers: nothing to wait for).

    A worker vouches for its beat's time, less the age of its oldest message not yet committed and the time
    it has been cut off from the broker (what the broker queued meanwhile is still to come). A worker that
    stopped beating (frozen, starved, killed) vouches for nothing after its last beat.
    """
    marks = [
        hb.beat_at
        - timedelta(
            seconds=hb.oldest_pending_s
            + float(hb.detail.get("disconnected_s") or 0.0)
            + float(hb.detail.get("store_down_s") or 0.0)
        )
        for hb in heartbeats(conn, role="ingest")
    ]
    return min(marks, default=None)


class HeartbeatThread:
    """Beats every ``every_s`` (``BEAT_EVERY_S`` unless said) with what ``status()`` says; a failed beat is
    logged, never fatal."""

    def __init__(
        self,
        engine: Engine,
        worker: str,
        role: str,
        status: Callable[[], Heartbeat],
        stop: threading.Event,
        *,
        every_s: float = BEAT_EVERY_S,
    ) -> None:
        self.engine = engine
        self.every_s = every_s
        self.worker = worker
        self.role = role
        self.status = status
        self.stop = stop
        self.thread = threading.Thread(target=self._run, name=f"heartbeat-{role}", daemon=True)

    def start(self) -> HeartbeatThread:
        self.thread.start()
        return self

    def _run(self) -> None:
        while True:
            try:
                with self.engine.begin() as conn:
                    beat(conn, self.status())
            except Exception:  # noqa: BLE001 - a missed beat is the signal; keep trying
                log.warning("heartbeat of %s not written", self.worker, exc_info=True)
            if self.stop.wait(self.every_s):
                return

    def retire(self) -> None:
        """A clean stop: the worker is gone on purpose, not stalled."""
        try:
            with self.engine.begin() as conn:
                forget(conn, self.worker)
        except Exception:  # noqa: BLE001 - the stale beat then ages out as a stall, which is safe
            log.warning("heartbeat of %s not retired", self.worker, exc_info=True)


WATCH_STATE = "platform-watch"


def watch_platform(
    conn: Connection, publish: Callable[[list[PlatformHealthEvent], Connection], None], stall_after_s: float
) -> list[PlatformHealthEvent]:
    """Publish a ``stalled`` event for each worker that newly stalled and ``ok`` for each that recovered.

    What was last published is kept in ``detector_snapshots`` (row ``platform-watch``), updated in the same
    transaction as the events, so a restarted watch neither repeats nor forgets an open stall.
    """
    now = db_now(conn)
    known = load_state(conn, WATCH_STATE, lock=True) or {}
    current = {s.worker: s for s in platform_status(conn, now, stall_after_s)}
    events: list[PlatformHealthEvent] = []
    for worker, st in current.items():
        was = known.get(worker, {}).get("status", "ok")
        status = "ok" if st.ok else "stalled"
        if status != was:
            text, said = (
                _said("platform.stalled", role=st.role, worker=worker, reason=st.why)
                if not st.ok
                else _said("platform.progressing", role=st.role, worker=worker)
            )
            events.append(
                PlatformHealthEvent(worker=worker, role=st.role, status=status, ts=now, explanation=text, message=said)
            )
    for worker, old in known.items():
        if worker not in current and old.get("status") == "stalled":
            text, said = _said("platform.stopped_cleanly", worker=worker)
            events.append(
                PlatformHealthEvent(
                    worker=worker, role=str(old.get("role", "")), status="ok", ts=now, explanation=text, message=said
                )
            )
    if events:
        publish(events, conn)
    save_state(
        conn, WATCH_STATE, {w: {"status": "ok" if s.ok else "stalled", "role": s.role} for w, s in current.items()}
    )
    return events


def utcnow() -> datetime:
    return datetime.now(UTC)
