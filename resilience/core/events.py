"""The one internal event interface between detection, the risk model and the alert service.

Two small interfaces, because no part needs both ends: producers (detection, the risk model) take an
``EventPublisher`` and call ``publish(event)``; in-process consumers register on an ``EventSubscriber`` with
``subscribe(kind, handler)``. Implementations:

- ``InMemoryEventBus``: both ends, synchronous, in one process (backtests, the risk CLI, unit tests).
- ``resilience.store.eventlog.PgEventLog``: the publisher of the durable, ordered log in PostgreSQL. Its
  subscribers live in other processes and read with ``EventConsumer`` (own cursor, own transactions), so
  detection, risk and alerts run as separate processes and a crash loses nothing.
- ``resilience.workers.detector_worker.CollectingBus``: a publisher that holds a batch's events until the
  worker commits them with its cursor.

``tests/spine/test_event_bus.py`` checks that each one delivers what was published, once and in order.
"""

from __future__ import annotations

import dataclasses
import enum
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar, runtime_checkable

from resilience.core.domain import Level


class EventKind(str, enum.Enum):
    ANOMALY = "anomaly"  # open / update / close of an anomaly on a sensor
    RISK_LEVEL = "risk_level"  # an asset or district crossing a level boundary
    SENSOR_HEALTH = "sensor_health"  # silent / stuck / recovered
    PLATFORM_HEALTH = "platform_health"  # one of the platform's own workers stalled / recovered
    FORECAST = "forecast"  # a projection of when a trending sensor reaches its alarm levels (issue/update/withdraw)


class AnomalyPhase(str, enum.Enum):
    OPEN = "open"
    UPDATE = "update"
    CLOSE = "close"


@dataclass(frozen=True)
class AnomalyEvent:
    """An anomaly on one sensor, as seen by one detector (or the per-kind ensemble).

    ``level`` is the graded threshold breach if the detector is a threshold detector (else ``Level.NONE``);
    ``score`` is in [0, 1]; ``explanation`` is a sentence a duty officer understands, and ``message`` the
    same as a code and parameters (:mod:`resilience.core.messages`) that the console says in the viewer's language.
    """

    anomaly_id: str
    phase: AnomalyPhase
    sensor_id: str
    asset_id: str
    sensor_kind: str
    detector: str
    start: datetime
    ts: datetime
    score: float
    peak_score: float
    value: float
    level: Level = Level.NONE
    explanation: str = ""
    end: datetime | None = None
    message: dict[str, Any] | None = None
    kind: EventKind = field(default=EventKind.ANOMALY, init=False)


@dataclass(frozen=True)
class SensorHealthEvent:
    """A sensor went silent or stuck, or recovered (``status`` = silent | stuck | ok)."""

    sensor_id: str
    asset_id: str
    sensor_kind: str
    status: str
    ts: datetime
    last_seen: datetime | None = None
    explanation: str = ""
    message: dict[str, Any] | None = None
    kind: EventKind = field(default=EventKind.SENSOR_HEALTH, init=False)


@dataclass(frozen=True)
class RiskLevelEvent:
    """A scope (``asset:ID`` or ``district:ID``) changed risk level for a hazard."""

    scope: str
    hazard: str
    previous: Level
    level: Level
    score: float
    ts: datetime
    explanation: str = ""
    factors: list[dict[str, Any]] = field(default_factory=list)
    asset_id: str | None = None
    district_id: str | None = None
    message: dict[str, Any] | None = None  # the explanation as a code and parameters (resilience.core.messages)
    kind: EventKind = field(default=EventKind.RISK_LEVEL, init=False)


@dataclass(frozen=True)
class PlatformHealthEvent:
    """A worker of the platform itself stalled or recovered (``status`` = stalled | ok).

    One such event stands for what would otherwise look like every sensor of the city going silent.
    """

    worker: str
    role: str
    status: str
    ts: datetime
    explanation: str = ""
    message: dict[str, Any] | None = None  # the explanation as a code and parameters (resilience.core.messages)
    kind: EventKind = field(default=EventKind.PLATFORM_HEALTH, init=False)


@dataclass(frozen=True)
class ForecastEvent:
    """A trending sensor's projected level crossings (:mod:`resilience.detection.forecast`).

    ``phase`` is issue | update | withdraw; ``projections`` lists, lowest level first, each level the trend
    reaches within the horizon as ``{level, limit, eta_s, eta_low_s, eta_high_s}`` (seconds after ``ts``);
    a withdrawal has none. ``value`` is the fitted level at ``ts`` (None without a trend), ``slope_per_min``
    its trend.
    """

    sensor_id: str
    asset_id: str
    sensor_kind: str
    phase: str
    ts: datetime
    value: float | None
    slope_per_min: float
    projections: list[dict[str, Any]] = field(default_factory=list)
    explanation: str = ""
    message: dict[str, Any] | None = None
    kind: EventKind = field(default=EventKind.FORECAST, init=False)


Event = AnomalyEvent | SensorHealthEvent | RiskLevelEvent | PlatformHealthEvent | ForecastEvent
_EVENT_TYPES: dict[EventKind, type] = {
    EventKind.ANOMALY: AnomalyEvent,
    EventKind.SENSOR_HEALTH: SensorHealthEvent,
    EventKind.RISK_LEVEL: RiskLevelEvent,
    EventKind.PLATFORM_HEALTH: PlatformHealthEvent,
    EventKind.FORECAST: ForecastEvent,
}
Handler = Callable[[Any], object]  # what a handler returns is not the bus's business
E = TypeVar("E")


def event_to_dict(event: Event) -> dict[str, Any]:
    """JSON-ready dict (datetimes as ISO strings, enums as values)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(event):
        v = getattr(event, f.name)
        if isinstance(v, datetime):
            v = v.isoformat()
        elif isinstance(v, Level):
            v = v.label
        elif isinstance(v, enum.Enum):
            v = v.value
        out[f.name] = v
    return out


def event_from_dict(data: dict[str, Any]) -> Event:
    kind = EventKind(data["kind"])
    cls = _EVENT_TYPES[kind]
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.init or f.name not in data:
            continue
        v = data[f.name]
        if v is not None and f.name in {"start", "ts", "end", "last_seen"}:
            v = datetime.fromisoformat(v)
        elif f.name in {"level", "previous"}:
            v = Level.parse(v)
        elif f.name == "phase" and cls is AnomalyEvent:
            v = AnomalyPhase(v)
        kwargs[f.name] = v
    event: Event = cls(**kwargs)
    return event


@runtime_checkable
class EventPublisher(Protocol):
    """Where producers send events; the implementation decides when they become visible."""

    def publish(self, event: Event) -> None: ...


@runtime_checkable
class EventSubscriber(Protocol):
    """Where an in-process consumer registers a handler for one kind of event."""

    def subscribe(self, kind: EventKind, handler: Handler) -> None: ...


@runtime_checkable
class EventBus(EventPublisher, EventSubscriber, Protocol):
    """Both ends in one object (in-process only)."""


class InMemoryEventBus:
    """Synchronous in-process bus: handlers run in publish order, in the publisher's thread."""

    def __init__(self) -> None:
        self._handlers: dict[EventKind, list[Handler]] = defaultdict(list)
        self.published: list[Event] = []

    def publish(self, event: Event) -> None:
        self.published.append(event)
        for handler in list(self._handlers[event.kind]):
            handler(event)

    def subscribe(self, kind: EventKind, handler: Handler) -> None:
        self._handlers[kind].append(handler)
