"""A durable, ordered event log in PostgreSQL: ``PgEventLog`` publishes, ``EventConsumer`` subscribes.

``publish`` inserts into ``events`` and sends ``NOTIFY lifeline_events`` in the same transaction, so an
event exists exactly when the change that produced it committed. Each consumer keeps a gap-free cursor
(``resilience.store.cursors``) and advances it in the same transaction as its own writes (at-least-once, and
effectively once for consumers whose writes are idempotent). LISTEN wakes consumers immediately; a
poll every second covers a missed notification. A batch is bounded both in events and in handling time
(``max_batch_s``), so a consumer never holds a long transaction over a backlog: its writes (alerts, outbox
rows) commit, and wake their own listeners, within a fraction of a second of the event.
"""

from __future__ import annotations

import json
import logging
import threading
from contextlib import AbstractContextManager, nullcontext
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, insert, text

from resilience.core.events import Event, EventKind, event_from_dict, event_to_dict
from resilience.store.cursors import Position, advance_cursor, ensure_cursor, read_after, read_cursor, sequence
from resilience.store.db import raw_connect
from resilience.store.event_lanes import done_in, forget_done, mark_done, urgent_ahead
from resilience.store.schema import events

log = logging.getLogger(__name__)
CHANNEL = "lifeline_events"


class NotifyListener:
    """A thread that LISTENs on ``channel`` and sets ``wake`` for every notification, reconnecting on loss.

    Shared by event consumers (``lifeline_events``) and the outbox dispatcher (``lifeline_outbox``). A waiter
    clears ``wake`` *before* it looks for work, then waits on it, so a notification is never lost between the
    look and the wait; a bounded wait still covers a notification missed while reconnecting.
    """

    def __init__(
        self, url: str, channel: str, wake: threading.Event, stop: threading.Event, *, name: str = "listen"
    ) -> None:
        self.url = url
        self.channel = channel
        self.wake = wake
        self.stop = stop
        self.name = name

    def start(self) -> threading.Thread:
        t = threading.Thread(target=self.run, name=f"{self.name}-{self.channel}", daemon=True)
        t.start()
        return t

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                with raw_connect(self.url, autocommit=True) as pg:
                    pg.execute(f"LISTEN {self.channel}")
                    self.wake.set()  # (re)connected: anything may have been missed
                    while not self.stop.is_set():
                        for _ in pg.notifies(timeout=0.5):
                            self.wake.set()
            except Exception:  # noqa: BLE001 - reconnect; the waiter's bounded wait covers the gap
                if self.stop.is_set():
                    break  # stopping anyway: the connection went with the database being shut or dropped
                log.exception("listener on %s lost its connection; reconnecting", self.channel)
                self.stop.wait(1.0)
        self.wake.set()  # stopping: let the waiter see ``stop`` now rather than after its fallback wait


def _payload(row: Any) -> dict[str, Any]:
    return row.payload if isinstance(row.payload, dict) else json.loads(row.payload)


def engine_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


class PgEventLog:
    """The log's ``EventPublisher``; ``conn`` lets a caller publish inside its own transaction.

    It has no ``subscribe``: a subscriber of a durable log needs a cursor and transactions of its own,
    which is what ``EventConsumer`` is.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def publish(self, event: Event, *, conn: Connection | None = None) -> None:
        self.publish_many([event], conn=conn)

    def publish_many(self, batch: list[Event], *, conn: Connection | None = None) -> None:
        if not batch:
            return
        rows = [{"kind": e.kind.value, "payload": event_to_dict(e)} for e in batch]
        if conn is not None:
            conn.execute(insert(events), rows)
            conn.execute(text(f"NOTIFY {CHANNEL}"))
            return
        with self.engine.begin() as c:
            c.execute(insert(events), rows)
            c.execute(text(f"NOTIFY {CHANNEL}"))


class EventConsumer:
    """Reads the log after its cursor and hands each event to ``handle(event, conn)`` in one transaction."""

    def __init__(
        self,
        engine: Engine,
        name: str,
        handle: Callable[[Event, Connection], object],
        *,
        batch: int = 500,
        kinds: set[EventKind] | None = None,
        max_batch_s: float = 0.25,
        poll_s: float = 1.0,
        handle_batch: Callable[[list[Event], Connection], object] | None = None,
        guard: AbstractContextManager[object] | None = None,
        lane_lookahead: int = 0,
    ) -> None:
        self.engine = engine
        self.name = name
        self.handle = handle
        self.handle_batch = handle_batch  # if given: the whole (filtered) batch at once, in one call
        # held around each batch's whole transaction, taken before it begins: a handler whose state others
        # also write under a lock takes that lock before any row lock, as those others must (no deadlock
        # between a Python lock and a row lock, which PostgreSQL cannot see)
        self.guard = guard if guard is not None else nullcontext()
        self.batch = batch
        self.max_batch_s = max_batch_s
        self.poll_s = poll_s
        self.kinds = {k.value for k in kinds} if kinds else None
        # behind by a batch or more: the most severe events of the next ``lane_lookahead`` go first
        # (resilience.store.event_lanes); 0 keeps strict log order
        self.lane_lookahead = lane_lookahead
        self.stop_event = threading.Event()
        self._wake = threading.Event()
        # the last read found less than a full batch: the consumer has reached the end of the log (its owner's
        # data clock may then follow the producers' time; while behind, only the events it has handled)
        self.caught_up = False

    def start_from_now(self) -> None:
        """Skip history: a new consumer starts at the current end of the log."""
        with self.engine.begin() as conn:
            ensure_cursor(conn, self.name, at_end_of="events")

    def run_once(self) -> int:
        """Process one batch; returns how many events were handled (gap-free, see ``resilience.store.cursors``)."""
        sequence(self.engine, "events")
        with self.guard, self.engine.begin() as conn:
            ensure_cursor(conn, self.name)
            last, _ = read_cursor(conn, self.name, lock=True)
            rows = read_after(conn, "events", "kind, payload", last, self.batch)
            self.caught_up = len(rows) < self.batch
            if not rows:
                return 0
            if self.lane_lookahead and len(rows) >= self.batch:
                ahead = urgent_ahead(conn, self.name, last.seq, lookahead=self.lane_lookahead, kinds=self.kinds)
                if ahead:  # handled now, skipped when the cursor reaches them
                    self._handle_all([event_from_dict(e.payload) for e in ahead], conn)
                    mark_done(conn, self.name, [e.seq for e in ahead])
                    return len(ahead)
            early = done_in(conn, self.name, [row.seq for row in rows]) if self.lane_lookahead else set()
            if self.handle_batch is not None:
                wanted = [
                    _payload(row)
                    for row in rows
                    if (self.kinds is None or row.kind in self.kinds) and row.seq not in early
                ]
                if wanted:
                    self.handle_batch([event_from_dict(p) for p in wanted], conn)
                self._advance(conn, Position(rows[-1].seq), len(rows), early)
                return len(rows)
            deadline = time.monotonic() + self.max_batch_s
            done = 0
            for row in rows:
                if (self.kinds is None or row.kind in self.kinds) and row.seq not in early:
                    self.handle(event_from_dict(_payload(row)), conn)
                done += 1
                last = Position(row.seq)
                if time.monotonic() > deadline:  # commit what is done; the rest is the next batch
                    break
            self._advance(conn, last, done, early)
            self.caught_up = self.caught_up and done == len(rows)
            return done

    def _advance(self, conn: Connection, to: Position, processed: int, early: set[int]) -> None:
        advance_cursor(conn, self.name, to, processed=processed)
        if early:  # the cursor has passed what the lane took ahead of it
            forget_done(conn, self.name, to.seq)

    def _handle_all(self, batch: list[Event], conn: Connection) -> None:
        if self.handle_batch is not None:
            self.handle_batch(batch, conn)
            return
        for event in batch:
            self.handle(event, conn)

    def run_forever(self) -> None:
        NotifyListener(engine_url(self.engine), CHANNEL, self._wake, self.stop_event, name=self.name).start()
        while not self.stop_event.is_set():
            self._wake.clear()  # before looking: a notification from now on makes the wait below return at once
            try:
                n = self.run_once()
            except Exception:  # noqa: BLE001 - keep consuming; the cursor did not move
                log.exception("consumer %s failed on a batch; retrying", self.name)
                self.stop_event.wait(1.0)
                continue
            if n == 0:
                self._wake.wait(self.poll_s)
