"""The live alert streams share one audit-log reader per API process, woken by NOTIFY (uvicorn for real).

Several clients get every new audit entry exactly once each, in order; the audit log is read once per
change for the whole process, not once per client; an entry committed while the feed's listener is
reconnecting still arrives; a client that falls too far behind is dropped instead of queueing forever.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine, event, text

from alerts import store
from alerts.model import Alert, AlertState, Transition
from resilience.api.alert_feed import QUEUE_MAX, AlertFeed, Subscription
from resilience.api.main import create_app
from resilience.core.domain import Level
from resilience.store.alert_feed import FeedBatch
from tests.auth import make_key

WAIT_S = 30.0


@dataclass
class Live:
    app: FastAPI
    url: str
    key: str


@pytest.fixture()
def live(db_engine: Engine) -> Iterator[Live]:
    app = create_app(engine=db_engine)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    started = threading.Event()
    for _ in range(int(WAIT_S * 20)):
        if server.started:
            started.set()
            break
        started.wait(0.05)
    assert started.is_set(), "uvicorn did not start"
    yield Live(app, f"http://127.0.0.1:{sock.getsockname()[1]}", make_key(db_engine))
    feed: AlertFeed | None = getattr(app.state, "alert_feed", None)
    if feed is not None:
        feed.stop(WAIT_S)
    server.should_exit = True
    thread.join(WAIT_S)
    sock.close()


class Client(threading.Thread):
    """Reads an alert stream until it ends (``limit`` events), keeping each event's id in order."""

    def __init__(self, live: Live, path: str) -> None:
        super().__init__(daemon=True)
        self.live, self.path = live, path
        self.ids: list[int] = []
        self.error: BaseException | None = None
        self.ready = threading.Event()  # the stream is live (the console's snapshot has been sent)

    def run(self) -> None:
        try:
            with httpx.stream(
                "GET", f"{self.live.url}{self.path}", headers={"X-API-Key": self.live.key}, timeout=WAIT_S
            ) as r:
                assert r.status_code == 200
                last_id = None
                for line in r.iter_lines():
                    if line.startswith("id: "):
                        last_id = int(line[4:])
                    elif line == "event: alert" and last_id is not None:
                        self.ids.append(last_id)
                    elif line == "event: snapshot":
                        self.ready.set()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc


def _wait_for_subscribers(live: Live, n: int) -> None:
    done = threading.Event()
    for _ in range(int(WAIT_S * 20)):
        feed = getattr(live.app.state, "alert_feed", None)
        if feed is not None and feed.subscribers >= n:
            return
        done.wait(0.05)
    raise AssertionError(f"{n} streams did not join the feed")


LISTENERS = "FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN lifeline_alerts'"


def _wait_for_listener(engine: Engine) -> None:
    done = threading.Event()
    for _ in range(int(WAIT_S * 20)):
        with engine.connect() as conn:
            if conn.execute(text(f"SELECT count(*) {LISTENERS}")).scalar():
                return
        done.wait(0.05)
    raise AssertionError("the alert feed's listener never sent LISTEN")


def commit_alert(engine: Engine, entries: int = 2) -> list[int]:
    """One new alert with ``entries`` audit entries, in one transaction; their ids."""
    now = datetime.now(UTC)
    a = Alert(
        fingerprint=f"feed-{uuid.uuid4().hex}",
        rule="test",
        hazard="gas_explosion",
        scope="asset:feed",
        level=Level.ORANGE,
        state=AlertState.FIRING,
        fired_at=now,
        first_fired_at=now,
        updated_at=now,
        level_since=now,
    )
    with engine.begin() as conn:
        saved = store.save_alert(conn, a)
        assert saved.id is not None
        store.add_transitions(conn, saved.id, [Transition("fired", now, note=f"step {i}") for i in range(entries)])
        ids = (
            conn.execute(text("SELECT id FROM alert_transitions WHERE alert_id = :a ORDER BY id"), {"a": saved.id})
            .scalars()
            .all()
        )
    return list(ids)


def test_every_client_gets_each_entry_once_in_order_from_one_read_per_change(live: Live, db_engine: Engine) -> None:
    readers: list[str] = []  # the thread of each read of the log

    def count(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
        if "WHERE alert_transitions.id >" in statement:
            readers.append(threading.current_thread().name)

    clients = [Client(live, "/api/v1/alerts/stream?limit=6") for _ in range(4)]
    for c in clients:
        c.start()
    _wait_for_subscribers(live, len(clients))
    event.listen(db_engine, "before_cursor_execute", count)
    try:
        committed = [i for _ in range(3) for i in commit_alert(db_engine)]
        for c in clients:
            c.join(WAIT_S)
    finally:
        event.remove(db_engine, "before_cursor_execute", count)
    for c in clients:
        assert c.error is None and not c.is_alive()
        assert c.ids == committed  # each entry once, in commit order
    assert set(readers) == {"alert-feed-read"}  # every read of the log while live was the feed's, none a client's
    assert len(readers) < len(clients) * 3  # one read per change for the process, not one per client


def test_a_console_and_a_resuming_client_share_the_feed(live: Live, db_engine: Engine) -> None:
    first = commit_alert(db_engine, entries=1)
    console = Client(live, "/api/v1/console/alerts/stream?limit=1")
    console.start()
    assert console.ready.wait(WAIT_S)
    later = commit_alert(db_engine, entries=1)
    resuming = Client(live, f"/api/v1/alerts/stream?after={first[0] - 1}&limit=2")
    resuming.start()
    console.join(WAIT_S)
    resuming.join(WAIT_S)
    assert console.error is None and console.ids == later
    assert resuming.error is None and resuming.ids == first + later  # catch-up, then live, no gap, no repeat


def test_an_entry_committed_while_the_listener_reconnects_still_arrives(live: Live, db_engine: Engine) -> None:
    client = Client(live, "/api/v1/alerts/stream?limit=1")
    client.start()
    _wait_for_subscribers(live, 1)
    _wait_for_listener(db_engine)  # the feed's thread may not have sent LISTEN yet (or is reconnecting)
    with db_engine.connect() as conn:
        killed = conn.execute(text(f"SELECT count(pg_terminate_backend(pid)) {LISTENERS}")).scalar()
    assert killed == 1
    ids = commit_alert(db_engine, entries=1)  # the listener waits a second before it reconnects
    client.join(WAIT_S)
    assert client.error is None and client.ids == ids


def test_a_client_that_falls_behind_is_dropped_not_queued_forever() -> None:
    async def scenario() -> tuple[bool, list[Any]]:
        sub = Subscription(asyncio.get_running_loop(), 0)
        for i in range(QUEUE_MAX + 5):
            sub.offer(FeedBatch(i + 1, [{"id": i + 1}]))
        left = [sub.queue.get_nowait() for _ in range(sub.queue.qsize())]
        return sub.dropped, left

    dropped, left = asyncio.run(scenario())
    assert dropped and left == [None]
