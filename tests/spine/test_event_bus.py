"""Every event publisher delivers what was published to its subscriber side: all of it, once, in order.

The producers (detection, the risk model) only know ``EventPublisher``; this is the promise they rely on,
checked for each implementation against its own way of being read: an in-process handler for
``InMemoryEventBus``, ``drain`` for the detector's ``CollectingBus``, an ``EventConsumer`` with its own
cursor for the durable ``PgEventLog`` (real PostgreSQL).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, Engine, delete

from resilience.core.events import (
    Event,
    EventBus,
    EventKind,
    EventPublisher,
    EventSubscriber,
    InMemoryEventBus,
    SensorHealthEvent,
)
from resilience.store.eventlog import EventConsumer, PgEventLog
from resilience.store.schema import event_cursors
from resilience.workers.detector_worker import CollectingBus

T0 = datetime(2026, 7, 1, tzinfo=UTC)

# A publisher and a function that returns, after the publishing, the events its subscriber side received.
Pair = tuple[EventPublisher, Callable[[], list[Event]]]


def health(i: int, status: str = "silent") -> SensorHealthEvent:
    return SensorHealthEvent(
        sensor_id=f"bus-s{i}", asset_id="bus-a", sensor_kind="methane", status=status, ts=T0 + timedelta(seconds=i)
    )


def in_memory() -> Pair:
    bus = InMemoryEventBus()
    got: list[Event] = []
    bus.subscribe(EventKind.SENSOR_HEALTH, got.append)
    return bus, lambda: got


def collecting() -> Pair:
    bus = CollectingBus()
    return bus, bus.drain


def pg_log(engine: Engine) -> Pair:
    name = f"bus-contract-{uuid.uuid4().hex[:8]}"
    got: list[Event] = []

    def handle(event: Event, conn: Connection) -> None:
        got.append(event)

    consumer = EventConsumer(engine, name, handle, kinds={EventKind.SENSOR_HEALTH})
    consumer.start_from_now()

    def read() -> list[Event]:
        while consumer.run_once():
            pass
        with engine.begin() as conn:
            conn.execute(delete(event_cursors).where(event_cursors.c.consumer == name))
        return [e for e in got if isinstance(e, SensorHealthEvent) and e.sensor_id.startswith("bus-s")]

    return PgEventLog(engine), read


@pytest.fixture(params=["in-memory", "collecting", "pg-log"])
def pair(request: pytest.FixtureRequest) -> Iterator[Pair]:
    if request.param == "pg-log":
        yield pg_log(request.getfixturevalue("db_engine"))
    else:
        yield in_memory() if request.param == "in-memory" else collecting()


def test_a_publisher_delivers_everything_once_in_order(pair: Pair) -> None:
    publisher, received = pair
    assert isinstance(publisher, EventPublisher)
    sent = [health(i, "silent" if i % 2 else "ok") for i in range(25)]
    for event in sent:
        publisher.publish(event)
    assert received() == sent


def test_only_buses_that_deliver_claim_to_subscribe() -> None:
    """A ``subscribe`` that registers handlers nobody calls is worse than none: the durable log has none."""
    assert isinstance(InMemoryEventBus(), EventBus)
    assert not isinstance(CollectingBus(), EventSubscriber)
    assert not hasattr(PgEventLog, "subscribe")
