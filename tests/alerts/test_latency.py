"""Latency seams of the alert path: the dispatcher wakes on outbox commits, consumers wake on NOTIFY and
commit bounded batches. Each test sets the fallback poll (30 s) far above how long it waits (5 s), so only
the wake-up mechanism can make it pass. How long the wake-up takes is ``resilience bench alerts`` (p50_ms=
p99_ms=, reading to webhook through the same dispatcher and consumers)."""

from __future__ import annotations

import threading
import time
import uuid

from sqlalchemy import Connection, Engine, text

from alerts.channels.webhook import WebhookChannel
from alerts.dispatcher import Dispatcher, DispatcherOptions
from alerts.consumer import AlertEngine
from resilience.core.domain import Level
from resilience.core.events import Event, EventKind
from resilience.store.eventlog import EventConsumer, PgEventLog
from tests.alerts.helpers import anomaly
from tests.alerts.receivers import WebhookReceiver
from tests.alerts.test_engine_db import SECRET, rules_for


def _wait_for(cond, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


def test_dispatcher_sends_on_outbox_commit_not_on_its_poll(adb: Engine) -> None:
    with WebhookReceiver(SECRET) as rx:
        eng = AlertEngine(adb, None, rules_for(rx.url))
        d = Dispatcher(adb, {"webhook": WebhookChannel(SECRET)}, options=DispatcherOptions(poll_interval_s=30.0))
        stop = threading.Event()
        worker = threading.Thread(target=d.run_forever, args=(stop,), daemon=True)
        worker.start()
        try:
            time.sleep(0.5)  # listener connected, dispatcher idle in its (30 s) wait
            for i, level in enumerate((Level.YELLOW, Level.ORANGE)):
                eng.handle(anomaly(level=level, t=10 * i))
                assert _wait_for(lambda n=i + 1: len(rx.accepted) >= n, 5.0), "sent only on the 30 s poll"
        finally:
            stop.set()
            worker.join(5)
    assert [m["alert"]["level"] for m in rx.accepted] == ["yellow", "orange"]


def test_dispatcher_sleeps_only_until_the_next_retry_is_due(adb: Engine) -> None:
    """A failed send is retried after its backoff, not after the (long) fallback poll."""
    rx = WebhookReceiver(SECRET)
    eng = AlertEngine(adb, None, rules_for(rx.url))
    opts = DispatcherOptions(backoff_initial_s=0.3, poll_interval_s=30.0)
    d = Dispatcher(adb, {"webhook": WebhookChannel(SECRET)}, options=opts)
    stop = threading.Event()
    worker = threading.Thread(target=d.run_forever, args=(stop,), daemon=True)
    worker.start()
    try:
        time.sleep(0.3)
        eng.handle(anomaly(level=Level.YELLOW))  # receiver down: first attempt fails
        time.sleep(0.2)
        rx.start()
        assert _wait_for(lambda: len(rx.accepted) == 1, 3.0)
    finally:
        stop.set()
        worker.join(5)
        rx.stop()


def _fresh_consumer(adb: Engine, handle, **kw) -> EventConsumer:  # type: ignore[no-untyped-def]
    c = EventConsumer(adb, f"test-{uuid.uuid4().hex[:8]}", handle, kinds={EventKind.ANOMALY}, **kw)
    c.start_from_now()
    return c


def test_consumer_commits_what_it_handled_when_a_batch_runs_long(adb: Engine) -> None:
    seen: list[str] = []

    def slow(event: Event, conn: Connection) -> None:
        time.sleep(0.1)
        seen.append(event.anomaly_id)  # type: ignore[attr-defined]

    c = _fresh_consumer(adb, slow, batch=50, max_batch_s=0.15)
    PgEventLog(adb).publish_many([anomaly(anomaly_id=f"b{i}") for i in range(5)])
    assert c.run_once() == 2  # over its time budget after the second event: commits those two
    with adb.connect() as conn:
        last = conn.execute(text("SELECT last_seq FROM event_cursors WHERE consumer = :c"), {"c": c.name}).scalar()
        ids = conn.execute(text("SELECT seq FROM events WHERE seq > 0 ORDER BY seq DESC LIMIT 5")).scalars().all()
    assert last == sorted(ids)[1]
    while c.run_once():
        pass
    assert seen == [f"b{i}" for i in range(5)]  # in order, each once
    with adb.begin() as conn:
        conn.execute(text("DELETE FROM event_cursors WHERE consumer = :c"), {"c": c.name})


def test_consumer_wakes_on_notify_not_on_its_poll(adb: Engine) -> None:
    seen: list[str] = []
    c = _fresh_consumer(adb, lambda e, conn: seen.append(e.anomaly_id), poll_s=30.0)
    worker = threading.Thread(target=c.run_forever, daemon=True)
    worker.start()
    try:
        time.sleep(0.5)
        for i in range(3):
            PgEventLog(adb).publish(anomaly(anomaly_id=f"w{i}"))
            assert _wait_for(lambda n=i + 1: len(seen) >= n, 5.0), "woken only by the 30 s poll"
        assert seen == ["w0", "w1", "w2"]
    finally:
        c.stop_event.set()
        worker.join(5)
        with adb.begin() as conn:
            conn.execute(text("DELETE FROM event_cursors WHERE consumer = :c"), {"c": c.name})


def test_a_batch_gives_the_same_alert_history_and_notifies_once_for_the_end_state(adb: Engine) -> None:
    from sqlalchemy import select

    from alerts.store.schema import alert_transitions, alerts, notifications

    eng = AlertEngine(adb, None, rules_for("http://127.0.0.1:9/hook"))
    batch = [anomaly(level=Level.YELLOW, t=0), anomaly(level=Level.ORANGE, t=10), anomaly(level=Level.RED, t=20)]
    with adb.begin() as conn:
        changed = eng.handle_batch_in(batch, conn)
    assert len(changed) == 1 and changed[0].level is Level.RED
    with adb.connect() as conn:
        rows = conn.execute(select(alerts.c.level, alerts.c.state)).all()
        kinds = conn.execute(select(alert_transitions.c.kind).order_by(alert_transitions.c.id)).scalars().all()
        sent = conn.execute(select(notifications.c.receiver, notifications.c.channel, notifications.c.payload)).all()
    assert rows == [(int(Level.RED), "firing")]
    assert kinds[0] == "fired" and kinds.count("escalated") == 2  # every step is in the audit log
    assert sent and all(p["alert"]["level"] == "red" for _, _, p in sent)  # receivers hear the end state
    assert len(sent) == len({(r, c) for r, c, _ in sent})  # once per receiver and channel
    with adb.begin() as conn:  # replaying the batch (crash before the cursor moved) adds nothing
        assert eng.handle_batch_in(batch, conn) == []
    with adb.connect() as conn:
        assert len(conn.execute(select(notifications.c.id)).all()) == len(sent)
