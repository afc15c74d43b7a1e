"""The data clock: time as the data says it is, moving on with the wall clock between readings.

Live, it equals wall-clock now (readings arrive within seconds). When history is replayed or a simulated
day runs faster than real time, jobs that ask "how long since ..." (silence checks, escalation, auto-resolve,
risk ageing) must follow data time, or a replay of yesterday looks like a day-long outage. The clock is the
newest data timestamp seen plus the wall time elapsed since it arrived, never ahead of wall-clock now, so a
feed that stops entirely still ages into silence.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class DataClock:
    def __init__(
        self, wall: Callable[[], datetime] = lambda: datetime.now(UTC), monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.wall = wall
        self.monotonic = monotonic
        self._newest: datetime | None = None
        self._arrived = 0.0
        self._lock = threading.Lock()

    def observe(self, ts: datetime) -> None:
        """A data timestamp was seen now; only a newer one moves the clock."""
        with self._lock:
            if self._newest is None or ts > self._newest:
                self._newest = ts
                self._arrived = self.monotonic()

    def __call__(self) -> datetime:
        wall = self.wall()
        with self._lock:
            if self._newest is None:
                return wall
            return min(wall, self._newest + timedelta(seconds=self.monotonic() - self._arrived))
