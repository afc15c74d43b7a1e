"""One reader of the alert audit log per API process, fanned out to every open stream.

A thread LISTENs on ``lifeline_alerts`` (sent by a trigger in the transaction that writes the audit entry)
and another reads the new entries once per wake-up (``resilience.store.alert_feed.read_after``), then hands
the batch to every subscribed stream's bounded asyncio queue. So the database sees one read per change, not
one per client per second. A slow poll (``fallback_s``) covers a notification lost while the listener
reconnects; the feed keeps its cursor through a database outage and catches up from it.

A client whose queue is full is dropped (its stream ends; the browser reconnects and resumes from its
Last-Event-ID) rather than letting the process's memory grow with a stalled reader.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from dataclasses import dataclass, field
from typing import Literal

from fastapi import Request

from resilience.store import alert_feed
from resilience.store.db import Engine
from resilience.store.eventlog import NotifyListener, engine_url

log = logging.getLogger(__name__)
FALLBACK_S = 5.0  # read even without a notification this often
BATCH = 500  # audit entries per read
QUEUE_MAX = 256  # batches a client may fall behind before it is dropped


@dataclass(eq=False)
class Subscription:
    """One stream's place in the feed: batches after ``cursor`` arrive in ``queue``; None means dropped."""

    loop: asyncio.AbstractEventLoop
    cursor: int  # every batch after this one is delivered, in order
    queue: asyncio.Queue[alert_feed.FeedBatch | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_MAX))
    token: int = 0
    dropped: bool = False

    def offer(self, batch: alert_feed.FeedBatch) -> None:
        """Runs on the stream's event loop: queue the batch, or drop the client if it has fallen too far."""
        if self.dropped:
            return
        if self.queue.full():
            self.dropped = True
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(batch)


class AlertFeed:
    """The process's single audit-log reader and its subscribers."""

    def __init__(self, engine: Engine, *, fallback_s: float = FALLBACK_S, batch: int = BATCH) -> None:
        self.engine = engine
        self.fallback_s = fallback_s
        self.batch = batch
        self.reads = 0  # reads of the audit log made by this feed (one per wake-up with work), for tests
        self._subs: dict[int, Subscription] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._cursor: int | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Read the starting cursor and start the threads (idempotent; blocking, so call it off the loop)."""
        with self._lock:
            if self._threads:
                return
            self._cursor = alert_feed.latest_entry_id(self.engine)
            listener = NotifyListener(
                engine_url(self.engine), alert_feed.CHANNEL, self._wake, self._stop, name="alert-feed"
            )
            self._threads = [listener.start(), threading.Thread(target=self._run, name="alert-feed-read", daemon=True)]
            self._threads[1].start()

    def stop(self, wait_s: float = 0.0) -> None:
        """Stop the threads; wait up to ``wait_s`` for them to end (their connections closed)."""
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(wait_s)

    def subscribe(self, loop: asyncio.AbstractEventLoop) -> Subscription:
        """A new subscription; every batch after its ``cursor`` (the feed's position now) reaches it."""
        with self._lock:
            assert self._cursor is not None, "start() the feed first"
            sub = Subscription(loop, self._cursor, token=next(self._ids))
            self._subs[sub.token] = sub
            return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.pop(sub.token, None)

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def _run(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            self._wake.wait(self.fallback_s)
            self._wake.clear()  # before reading: a notification from now on wakes the next round at once
            try:
                while not self._stop.is_set() and self._read_once():
                    pass
                delay = 0.5
            except Exception:  # noqa: BLE001 - the database is away: keep the cursor, retry, catch up after
                log.exception("alert feed could not read the audit log; retrying in %.1f s", delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)
                self._wake.set()

    def _read_once(self) -> bool:
        """Read and fan out one batch; True when the batch was full (more may be waiting)."""
        assert self._cursor is not None
        got = alert_feed.read_after(self.engine, self._cursor, self.batch)
        self.reads += 1
        if not got.entries:
            return False
        with self._lock:
            self._cursor = got.cursor
            subs = list(self._subs.values())
        for sub in subs:
            if sub.dropped:
                self.unsubscribe(sub)
                continue
            try:
                sub.loop.call_soon_threadsafe(sub.offer, got)
            except RuntimeError:  # its loop has closed
                self.unsubscribe(sub)
        return len(got.entries) >= self.batch


_made = threading.Lock()


def feed_of(request: Request) -> AlertFeed:
    """The process's feed (one per app, made on first use; started by the caller, off the event loop)."""
    with _made:
        feed: AlertFeed | None = getattr(request.app.state, "alert_feed", None)
        if feed is None:
            feed = request.app.state.alert_feed = AlertFeed(request.app.state.engine)
        return feed


async def next_batch(sub: Subscription, idle_s: float) -> alert_feed.FeedBatch | None | Literal[False]:
    """The next batch, None if the client was dropped, or False after ``idle_s`` without one."""
    try:
        return await asyncio.wait_for(sub.queue.get(), timeout=idle_s)
    except TimeoutError:
        return False
