"""Silent sensors: no reading within ``k`` times the expected interval, as far as the platform can tell.

A dead transmitter produces no readings, so no detector ever sees it; silence has to be checked by a
clock. But a sensor looks just as silent when the platform itself is behind (ingest or detection stopped
or starved, the machine overloaded): then every sensor of the city looks silent at once. So silence is
judged against the platform's own progress, never against the wall clock alone:

* Each utility's feed is judged by its own newest reading (its watermark) while the platform keeps
  *hearing* from it (the detector processed some of its readings within ``feed_lag_s``, whatever their
  timestamps): packs from different utilities arrive separately, and a feed draining a backlog is alive.
  Heard also counts in wall time (``wall_grace_s``): in an accelerated run one utility's pack of a late
  simulator step moves data time far ahead of the next utility's pack, sent with it and processed a moment
  later; that utility is not stopped (a simulated day on a loaded machine saw 558 and 619 sensors of one
  utility "silent" at single moments this way).
* A feed the platform has not heard from for ``feed_lag_s`` has stopped as a whole (a gateway down): its
  sensors are judged by ``now``. The caller passes as ``now`` the *horizon* (:class:`PlatformHorizon`):
  the time up to which the platform has demonstrably processed everything sent to it. While ingest or
  detection is behind, the horizon stands still, so neither a stopped detector nor a broker queue that
  waits for a frozen ingest worker makes a single sensor silent; the platform watch raises one platform
  alert for it (resilience/ops/health.py).
* A sensor never heard from is silent ``k`` intervals after the platform started listening for it (the
  first check that saw it), not after the process started.

``now`` is always passed in (UTC), never read from the system clock here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from resilience.detection.explain import msg, render_en
from resilience.core.events import EventPublisher, SensorHealthEvent


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


class PlatformHorizon:
    """The wall time up to which the platform has processed everything sent to it (None: not yet known).

    Two stages vouch for it: ingest (committed what it received: the older of its heartbeats' progress)
    and detection (found the hand-off drained). The horizon is the earlier of the two and never moves back.
    After a gap (a stopped or starved process, a frozen ingest whose broker queue is still to arrive) it
    catches up at most ``2 x`` the wall time between updates, counting at most ``step_s`` of a gap: what
    was queued during the gap gets time to arrive before its feeds could count as stopped.
    """

    def __init__(self, step_s: float) -> None:
        self.step = timedelta(seconds=step_s)
        self.ingest: datetime | None = None  # None: no ingest worker to wait for (HTTP ingest is synchronous)
        self.detector: datetime | None = None
        self.value: datetime | None = None
        self._updated: datetime | None = None

    def ingest_current(self, at: datetime | None) -> None:
        """Ingest has committed what it received before ``at`` (None: no MQTT ingest worker beats)."""
        self.ingest = at

    def detector_current(self, at: datetime) -> None:
        """Detection has processed every hand-off batch committed before ``at``."""
        if self.detector is None or at > self.detector:
            self.detector = at

    def advance(self, now: datetime) -> datetime | None:
        """The horizon at wall time ``now``, moved on as far as both stages and the catch-up rate allow."""
        if self.detector is None:
            return self.value
        target = min(now, self.detector, self.ingest or now)
        if self.value is None:
            self.value = target
        elif target > self.value:
            gap = min(now - (self._updated or now), self.step)
            self.value = min(target, self.value + 2 * gap)
        self._updated = now
        return self.value


class SilenceTracker:
    """Remembers when each sensor last reported and reports silent / recovered transitions.

    Parameters
    ----------
    catalogue
        ``sensor_id -> SensorInfo``; sensors not in it are ignored.
    k
        Silence after ``k * expected_interval_s`` without a reading.
    started
        When listening started: a sensor in the catalogue then and never heard from is silent ``k``
        intervals after this; one that joins the catalogue later, ``k`` intervals after the first check that
        sees it. None: the first check's ``now``.
    bus
        If given, every returned event is also published.
    feed_lag_s
        How long the platform may hear nothing from a utility's feed (packs in transit, batching) before its
        sensors are judged by ``now`` instead of by the feed's own newest reading.
    wall_grace_s
        And how long in wall time (when the caller passes ``wall``), never more than ``feed_lag_s``.

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
        wall_grace_s: float = 10.0,
    ) -> None:
        self.catalogue = catalogue
        self.k = k
        self.started = started
        self.bus = bus
        self.feed_lag = timedelta(seconds=feed_lag_s)
        self.wall_grace = timedelta(seconds=min(wall_grace_s, feed_lag_s))
        self.heard_wall: dict[str, datetime] = {}  # feed -> wall time of that (this process only)
        self.last_seen: dict[str, datetime] = {}
        self.silent: set[str] = set()
        self.heard: dict[str, datetime] = {}  # feed -> when the platform last processed one of its readings
        self.watch_from: dict[str, datetime] = {}  # never-heard sensor -> since when it has had its chance
        self._checked = False
        self._back: list[SensorHealthEvent] = []  # returns seen by ``observe`` without a bus

    @staticmethod
    def _feed(info: SensorInfo | None) -> str:
        return str(getattr(info, "utility_id", "") or "")

    def observe(self, sensor_id: str, ts: datetime) -> None:
        """Record a reading; out-of-order (older) timestamps do not move ``last_seen`` back.

        A silent sensor that reports again is back at once, at its reading's time (published on ``bus``): a
        reading proves it alive whatever the platform's lag, so its return is never held with the checks."""
        prev = self.last_seen.get(sensor_id)
        if prev is None or ts > prev:
            self.last_seen[sensor_id] = ts
            if sensor_id in self.silent and (info := self.catalogue.get(sensor_id)) is not None:
                self.silent.discard(sensor_id)
                back = _health_event(info, sensor_id, "ok", ts, prev)
                if self.bus is not None:
                    self.bus.publish(back)
                else:  # returned by the next check
                    self._back.append(back)
            if prev is None:
                self.watch_from.pop(sensor_id, None)  # heard: judged by its readings from now on
            feed = self._feed(self.catalogue.get(sensor_id))
            heard = self.heard.get(feed)
            if heard is None or ts > heard:
                self.heard[feed] = ts

    def mark_heard(self, sensor_ids: Iterable[str], at: datetime, wall: datetime | None = None) -> None:
        """The platform processed readings of these sensors at ``at`` (on the caller's clock; ``wall``: and at
        this wall time): their feeds live."""
        for feed in {self._feed(self.catalogue.get(sid)) for sid in sensor_ids}:
            if feed not in self.heard or at > self.heard[feed]:
                self.heard[feed] = at
            if wall is not None:
                self.heard_wall[feed] = max(wall, self.heard_wall.get(feed, wall))

    def restart(self) -> None:
        """A (re)started detector: every feed and never-heard sensor gets a fresh window from the first check
        (the time the detector was down was the platform's silence, not the sensors')."""
        self.started = None
        self._checked = False
        self.heard.clear()
        self.heard_wall.clear()
        self.watch_from.clear()

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

    def _stopped(self, feed: str, now: datetime, wall: datetime | None) -> bool:
        """Nothing heard from the feed for ``feed_lag`` (and, given ``wall``, for ``wall_grace`` of wall time)."""
        started = self.started or now
        if now - max(self.heard.get(feed) or started, started) <= self.feed_lag:
            return False
        heard_wall = self.heard_wall.get(feed)
        return wall is None or heard_wall is None or wall - heard_wall > self.wall_grace

    def _judged_at(
        self, feed: str, newest: datetime | None, now: datetime, hold: bool, wall: datetime | None
    ) -> datetime:
        """The time a feed's sensors are judged at: the feed's watermark while the platform hears from it,
        else ``now``. With ``hold`` (the platform's own ingestion is stalled) never by the clock."""
        if hold:
            return min(now, newest) if newest is not None else min(now, self.started or now)
        if newest is None or self._stopped(feed, now, wall):
            return now
        return min(now, newest)

    def check(self, now: datetime, *, hold: bool = False, wall: datetime | None = None) -> list[SensorHealthEvent]:
        """Events for sensors that went silent, or came back, since the previous check (see ``_judged_at``);
        ``wall``: the wall time the platform has got to (its horizon), for the wall-time grace."""
        events: list[SensorHealthEvent] = []
        back, self._back = self._back, []
        first, self._checked = not self._checked, True
        if self.started is None:
            self.started = now
        marks = self.feed_watermarks()
        feed_now: dict[str, datetime] = {}
        for sid, info in self.catalogue.items():
            last = self.last_seen.get(sid)
            ref = last if last is not None else self.watch_from.setdefault(sid, self.started if first else now)
            feed = self._feed(info)
            if feed not in feed_now:
                feed_now[feed] = self._judged_at(feed, marks.get(feed), now, hold, wall)
            is_silent = feed_now[feed] - ref > timedelta(seconds=self.k * float(info.expected_interval_s))
            if is_silent and sid not in self.silent:
                self.silent.add(sid)
                events.append(_health_event(info, sid, "silent", now, last))
            elif not is_silent and sid in self.silent:
                self.silent.discard(sid)
                events.append(_health_event(info, sid, "ok", now, last))
        if self.bus is not None:
            for event in events:
                self.bus.publish(event)
        return back + events

    def to_state(self) -> dict[str, Any]:
        return {
            "last_seen": _iso(self.last_seen),
            "silent": sorted(self.silent),
            "started": self.started.isoformat() if self.started else None,
            "heard": _iso(self.heard),
            "watch_from": _iso(self.watch_from),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.last_seen = _parse(state["last_seen"])
        self.silent = set(state["silent"])
        self.started = datetime.fromisoformat(state["started"]) if state.get("started") else None
        self.heard = _parse(state.get("heard"))
        self.watch_from = _parse(state.get("watch_from"))
        self._checked = True  # a sensor the snapshot had not seen yet is watched from the next check


def _iso(times: Mapping[str, datetime]) -> dict[str, str]:
    return {k: v.isoformat() for k, v in times.items()}


def _parse(times: Mapping[str, str] | None) -> dict[str, datetime]:
    return {k: datetime.fromisoformat(v) for k, v in (times or {}).items()}


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
