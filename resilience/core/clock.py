"""The data clock: time as the data says it is, moving on with the wall clock between readings.

Live, it equals wall-clock now (readings arrive within seconds). When history is replayed or a simulated
day runs faster than real time, jobs that ask "how long since ..." (silence checks, escalation, auto-resolve,
risk ageing) must follow data time, or a replay of yesterday looks like a day-long outage. The clock is the
newest data timestamp seen plus the wall time elapsed since it arrived, never ahead of wall-clock now, so a
feed that stops entirely still ages into silence.

A clock that sees data time only now and then (the alert engine: a detector's beat every few seconds) may
``follow_rate``: between observations it moves at the pace the data moved over the last interval (120x in a
run at 120x), never more than that interval ahead of the newest data, so an accelerated run's timers (a
re-open hold, an auto-resolve) are not held up to the next observation. Live, the pace is the wall's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


MAX_RATE = 10_000.0  # a pace beyond this is a gap in the data, not a fast run


class DataClock:
    def __init__(
        self,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        *,
        follow_rate: bool = False,
    ) -> None:
        self.wall = wall
        self.monotonic = monotonic
        self.follow_rate = follow_rate
        self._newest: datetime | None = None
        self._arrived = 0.0
        self._rate = 1.0  # data seconds per wall second over the last interval (follow_rate only)
        self._step = timedelta(0)  # that interval's data time
        self._lock = threading.Lock()

    @property
    def newest(self) -> datetime | None:
        """The newest data timestamp seen (None before any)."""
        return self._newest

    def observe(self, ts: datetime) -> None:
        """A data timestamp was seen now; only a newer one moves the clock."""
        with self._lock:
            if self._newest is None or ts > self._newest:
                now = self.monotonic()
                if self._newest is not None and now > self._arrived:
                    self._step = ts - self._newest
                    self._rate = min(MAX_RATE, max(1.0, self._step.total_seconds() / (now - self._arrived)))
                self._newest = ts
                self._arrived = now

    def __call__(self) -> datetime:
        wall = self.wall()
        with self._lock:
            if self._newest is None:
                return wall
            elapsed = timedelta(seconds=self.monotonic() - self._arrived)
            ahead = elapsed
            if self.follow_rate and self._rate > 1.0:
                ahead = max(elapsed, min(elapsed * self._rate, self._step))
            return min(wall, self._newest + ahead)
