"""Silent sensors: no reading within ``k`` times the expected interval.

A dead transmitter produces no readings, so no detector ever sees it; silence has to be checked by the
clock. The lead wires :meth:`SilenceTracker.check` into an APScheduler interval job; ``now`` is always
passed in (UTC), never read from the system clock here.

Each utility's feed is judged by its own newest reading (its watermark), not only by the platform's clock:
packs from different utilities arrive separately, and a sensor is not silent because another utility's
pack for the same minute was processed first. A feed whose watermark falls more than ``feed_lag_s`` behind
``now`` has stopped as a whole (a gateway down): then its sensors are judged by ``now``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from resilience.detection.explain import msg, render_en
from resilience.events import EventPublisher, SensorHealthEvent


class SensorInfo(Protocol):
    """The catalogue fields detection needs about a sensor (read-only: catalogue entries are frozen)."""

    @property
    def sensor_id(self) -> str: ...
    @property
    def asset_id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def thresholds(self) -> dict[str, float] | None: ...
    @property
    def expected_interval_s(self) -> float: ...


class SilenceTracker:
    """Remembers when each sensor last reported and reports silent / recovered transitions.

    Parameters
    ----------
    catalogue
        ``sensor_id -> SensorInfo``; sensors not in it are ignored.
    k
        Silence after ``k * expected_interval_s`` without a reading.
    started
        When tracking started: a sensor never heard from is silent ``k`` intervals after this.
    bus
        If given, every returned event is also published.
    feed_lag_s
        How far a utility's feed may trail ``now`` (packs in transit, batching) before its sensors are
        judged by ``now`` instead of by the feed's own newest reading.

    Examples
    --------
    >>> from types import SimpleNamespace as S
    >>> from datetime import datetime, timedelta
    >>> t0 = datetime(2024, 5, 1, 8, 0)
    >>> cat = {"ch4-1": S(sensor_id="ch4-1", asset_id="a1", kind="methane", thresholds=None,
    ...                   expected_interval_s=60)}
    >>> tr = SilenceTracker(cat, k=3, started=t0)
    >>> tr.observe("ch4-1", t0)
    >>> tr.check(t0 + timedelta(minutes=2))
    []
    >>> [e.status for e in tr.check(t0 + timedelta(minutes=4))]
    ['silent']
    >>> tr.check(t0 + timedelta(minutes=5))  # already silent: reported once
    []
    """

    def __init__(
        self,
        catalogue: Mapping[str, SensorInfo],
        k: float = 3.0,
        started: datetime | None = None,
        bus: EventPublisher | None = None,
        feed_lag_s: float = 60.0,
    ) -> None:
        self.catalogue = catalogue
        self.k = k
        self.started = started
        self.bus = bus
        self.feed_lag = timedelta(seconds=feed_lag_s)
        self.last_seen: dict[str, datetime] = {}
        self.silent: set[str] = set()

    @staticmethod
    def _feed(info: SensorInfo | None) -> str:
        return str(getattr(info, "utility_id", "") or "")

    def observe(self, sensor_id: str, ts: datetime) -> None:
        """Record a reading; out-of-order (older) timestamps do not move ``last_seen`` back."""
        prev = self.last_seen.get(sensor_id)
        if prev is None or ts > prev:
            self.last_seen[sensor_id] = ts

    def feed_watermarks(self) -> dict[str, datetime]:
        """Each utility's newest reading: the latest of its sensors' last readings."""
        marks: dict[str, datetime] = {}
        for sid, last in self.last_seen.items():
            info = self.catalogue.get(sid)
            if info is None:
                continue
            feed = self._feed(info)
            if feed not in marks or last > marks[feed]:
                marks[feed] = last
        return marks

    def _judged_at(self, newest: datetime | None, now: datetime, hold: bool) -> datetime:
        """The time a feed's sensors are judged at: the feed's watermark while it keeps up, else ``now``.

        With ``hold`` (the platform's own ingestion is stalled) a feed is never judged by the clock: what has
        not been processed yet may well have been sent.
        """
        if hold:
            return min(now, newest) if newest is not None else min(now, self.started or now)
        if newest is None or now - newest > self.feed_lag:
            return now
        return min(now, newest)

    def check(self, now: datetime, *, hold: bool = False) -> list[SensorHealthEvent]:
        """Events for sensors that went silent, or came back, since the previous check (see ``_judged_at``)."""
        events: list[SensorHealthEvent] = []
        if self.started is None:
            self.started = now
        marks = self.feed_watermarks()
        feed_now: dict[str, datetime] = {}
        for sid, info in self.catalogue.items():
            last = self.last_seen.get(sid)
            limit = timedelta(seconds=self.k * float(info.expected_interval_s))
            ref = last if last is not None else self.started
            feed = self._feed(info)
            if feed not in feed_now:
                feed_now[feed] = self._judged_at(marks.get(feed), now, hold)
            is_silent = feed_now[feed] - ref > limit
            if is_silent and sid not in self.silent:
                self.silent.add(sid)
                events.append(_health_event(info, sid, "silent", now, last))
            elif not is_silent and sid in self.silent:
                self.silent.discard(sid)
                events.append(_health_event(info, sid, "ok", now, last))
        if self.bus is not None:
            for event in events:
                self.bus.publish(event)
        return events

    def to_state(self) -> dict[str, Any]:
        return {
            "last_seen": {k: v.isoformat() for k, v in self.last_seen.items()},
            "silent": sorted(self.silent),
            "started": self.started.isoformat() if self.started else None,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.last_seen = {k: datetime.fromisoformat(v) for k, v in state["last_seen"].items()}
        self.silent = set(state["silent"])
        self.started = datetime.fromisoformat(state["started"]) if state.get("started") else None


def _health_event(info: SensorInfo, sid: str, status: str, now: datetime, last: datetime | None) -> SensorHealthEvent:
    """A sensor went silent (``status`` silent) or reports again (ok), with what that means."""
    who = {"sensor_kind": info.kind, "sensor": sid}
    if status == "ok":
        message = msg("anomaly.reporting_again", **who)
    elif last is None:
        message = msg("anomaly.silent_never", **who, interval=f"{float(info.expected_interval_s):.0f}")
    else:
        since = last.isoformat(timespec="minutes")
        message = msg("anomaly.silent_since", **who, since=since, interval=f"{float(info.expected_interval_s):.0f}")
    return SensorHealthEvent(
        sensor_id=sid,
        asset_id=info.asset_id,
        sensor_kind=info.kind,
        status=status,
        ts=now,
        last_seen=last,
        explanation=render_en(message),
        message=message,
    )
