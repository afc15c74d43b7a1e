"""Consumers of the event log and of the hand-off never pass over a row that commits late.

A cursor over ids alone skips an event whose id was taken before a later one committed; the log's order is
the sequence number committed rows get from the one sequencer, so nothing is skipped, and an open transaction
elsewhere (a worker frozen mid-commit) holds back only its own rows.
"""

from __future__ import annotations

import random
import threading
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, text

from resilience.core.domain import Reading
from resilience.core.events import Event, SensorHealthEvent
from resilience.store import handoff
from resilience.store.cursors import Position, ensure_cursor, sequence
from resilience.store.eventlog import EventConsumer, PgEventLog


def _event(tag: str, i: int) -> SensorHealthEvent:
    return SensorHealthEvent(
        sensor_id=f"{tag}-{i}", asset_id="GAP-A", sensor_kind="methane", status="silent", ts=datetime.now(UTC)
    )


def _consumer(engine: Engine, tag: str, seen: list[str]) -> EventConsumer:
    def handle(event: Event, conn: Connection) -> None:
        if isinstance(event, SensorHealthEvent) and event.sensor_id.startswith(tag):
            seen.append(event.sensor_id)

    consumer = EventConsumer(engine, f"gap-{tag}", handle)
    consumer.start_from_now()
    return consumer


def test_an_event_committed_after_a_later_id_is_not_skipped(db_engine: Engine) -> None:
    tag = uuid.uuid4().hex[:8]
    seen: list[str] = []
    consumer = _consumer(db_engine, tag, seen)
    log = PgEventLog(db_engine)
    slow = db_engine.connect()
    txn = slow.begin()
    log.publish(_event(tag, 1), conn=slow)  # takes the lower id, commits last
    log.publish(_event(tag, 2))  # a higher id, committed at once
    while consumer.run_once():
        pass
    assert seen == [f"{tag}-2"]  # the committed event is not held back by the open one
    txn.commit()
    slow.close()
    while consumer.run_once():
        pass
    assert seen == [f"{tag}-2", f"{tag}-1"]  # the late one, once committed, is not skipped


def test_an_open_transaction_elsewhere_does_not_hold_consumers_back(db_engine: Engine) -> None:
    """A worker frozen inside a transaction that has written (so holds a transaction id) delays nothing."""
    tag = uuid.uuid4().hex[:8]
    seen: list[str] = []
    consumer = _consumer(db_engine, tag, seen)
    frozen = db_engine.connect()
    txn = frozen.begin()
    frozen.execute(
        text(
            "INSERT INTO dead_letters (transport, utility_id, topic, payload, reason) "
            "VALUES ('mqtt', 'gap', 'gap', '', 'held open')"
        )
    )
    try:
        PgEventLog(db_engine).publish(_event(tag, 1))
        while consumer.run_once():
            pass
        assert seen == [f"{tag}-1"]
    finally:
        txn.rollback()
        frozen.close()


def test_racing_writers_and_a_consumer_lose_nothing_and_double_nothing(db_engine: Engine) -> None:
    tag = uuid.uuid4().hex[:8]
    seen: list[str] = []
    consumer = _consumer(db_engine, tag, seen)
    log = PgEventLog(db_engine)
    writers, per_writer = 4, 60
    done = threading.Event()

    def write(w: int) -> None:
        rnd = random.Random(w)
        for i in range(per_writer):
            with db_engine.begin() as conn:
                log.publish(_event(tag, w * 1000 + i), conn=conn)
                if rnd.random() < 0.3:  # hold the transaction open while others commit
                    conn.execute(text("SELECT pg_sleep(:s)"), {"s": rnd.random() * 0.02})

    def consume() -> None:
        while not done.is_set():
            consumer.run_once()

    reader = threading.Thread(target=consume)
    reader.start()
    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    reader.join()
    while consumer.run_once():
        pass
    assert len(seen) == writers * per_writer and len(set(seen)) == len(seen)


def test_hand_off_batches_in_shards_are_read_once_in_order(db_engine: Engine) -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    tag = uuid.uuid4().hex[:6]
    readings = [Reading(f"{tag}-S{i % 7}", t0 + timedelta(seconds=i), float(i)) for i in range(70)]
    with db_engine.begin() as conn:
        for shard in range(3):
            ensure_cursor(conn, f"test-{tag}-{shard}", at_end_of="reading_batches")
        start = {
            s: conn.execute(
                text("SELECT last_seq FROM event_cursors WHERE consumer = :c"), {"c": f"test-{tag}-{s}"}
            ).scalar_one()
            for s in range(3)
        }
        shards_hit = {handoff.shard_of(r.sensor_id, 3) for r in readings[:35]}
        assert handoff.hand_off(conn, readings[:35], transport="http", shards=3) == len(shards_hit)  # a row a shard
    with db_engine.begin() as conn:
        handoff.hand_off(conn, readings[35:], transport="mqtt", shards=3)
    got: list[Reading] = []
    sequence(db_engine, handoff.TABLE)
    with db_engine.connect() as conn:
        for shard in range(3):
            batches = handoff.read_batches(conn, shard, Position(start[shard]), limit=100)
            mine = [r for b in batches for r in b.readings if r.sensor_id.startswith(tag)]
            assert all(handoff.shard_of(r.sensor_id, 3) == shard for r in mine)
            got += mine
    assert sorted(got, key=lambda r: r.value) == readings  # each once, values and times exact
