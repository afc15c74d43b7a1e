"""Optimistic locking of alert rows against real PostgreSQL: a save of a row read before someone else's
save is refused (StaleAlertError), and every writer (engine tick, event consumer, API actions) redoes its
work from a fresh read, so an operator's acknowledgement is never overwritten by the engine."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import yaml
from sqlalchemy import Connection, Engine, select, text

from alerts import retry, store
from alerts.config import DEFAULT_RULES_PATH, RulesConfig, parse_rules
from alerts.consumer import AlertEngine
from alerts.lifecycle import new_alert
from alerts.model import Alert, AlertState, Signal, Transition
from alerts.store.schema import alert_transitions, alerts
from alerts.service import AlertService
from alerts.store import StaleAlertError
from resilience.core.domain import Level
from resilience.core.events import EventKind
from resilience.store.eventlog import EventConsumer, PgEventLog
from tests.alerts.helpers import anomaly, at

DEAD_HOOK = "http://127.0.0.1:9/hook"  # nothing listens: no dispatcher runs in these tests anyway


def rules(*, ack_within_s: float = 300, tiers: int = 2, routed: bool = True) -> RulesConfig:
    """Default rules, notifications to a dead webhook (none but escalations if not ``routed``), red alerts
    escalating ``tiers`` times."""
    data = yaml.safe_load(DEFAULT_RULES_PATH.read_text())
    data["defaults"].update(group_wait_s=0, group_interval_s=0, delivery_failure_receivers=["hook"])
    data["receivers"] = [
        {"name": "hook", "type": "webhook", "url": DEAD_HOOK},
        {"name": "boss", "type": "webhook", "url": DEAD_HOOK + "/boss"},
    ]
    data["routes"] = [{"receivers": ["hook"]}] if routed else []
    data["escalations"] = [
        {"name": "red", "levels": ["red"], "ack_within_s": ack_within_s, "tiers": [["boss"]] * tiers}
    ]
    return parse_rules(data)


def seed(engine: Engine, n: int, *, level: Level = Level.RED) -> list[int]:
    """``n`` firing alerts on distinct assets in no district (so no district alert groups and mutes them)."""
    ids: list[int] = []
    with engine.begin() as conn:
        for i in range(n):
            sig = Signal(
                rule="gas_leak",
                hazard="gas_explosion",
                scope=f"asset:race{i}",
                source_key=f"k:{i}",
                active=True,
                ts=at(0),
                level=level,
                asset_id=f"race{i}",
            )
            a = store.save_alert(conn, new_alert(sig))
            assert a.id is not None
            store.add_transitions(conn, a.id, [Transition("fired", at(0), to_state="firing", level=level)])
            ids.append(a.id)
    return ids


def acknowledge(engine: Engine, cfg: RulesConfig, alert_id: int, by: str, now: datetime) -> Alert:
    return retry.in_transaction(
        engine, lambda c: AlertService(c, cfg, now).acknowledge(alert_id, by=by), what=f"acknowledge {alert_id}"
    )


def ack_transitions(engine: Engine) -> dict[int, list[str]]:
    with engine.connect() as c:
        rows = c.execute(
            select(alert_transitions.c.alert_id, alert_transitions.c.actor).where(
                alert_transitions.c.kind == "acknowledged"
            )
        ).all()
    out: dict[int, list[str]] = {}
    for alert_id, actor in rows:
        out.setdefault(alert_id, []).append(actor)
    return out


def alert_rows(engine: Engine) -> dict[int, dict[str, Any]]:
    with engine.connect() as c:
        return {r.id: dict(r._mapping) for r in c.execute(select(alerts))}


# -- (a) deterministic interleavings ---------------------------------------------------------------------


def test_a_save_of_a_row_read_before_an_acknowledgement_raises_stale(adb: Engine) -> None:
    cfg = rules()
    (alert_id,) = seed(adb, 1)
    with adb.connect() as c1:
        tx1 = c1.begin()
        (stale,) = store.active_alerts(c1)  # transaction 1 reads the alert ...
        assert stale.row_version == 0
        acked = acknowledge(adb, cfg, alert_id, "wang", at(5))  # ... transaction 2 acknowledges and commits
        assert acked.row_version == 1
        stale.escalation_tier = 1
        with pytest.raises(StaleAlertError, match=f"alert {alert_id} changed since it was read at row_version 0"):
            store.save_alert(c1, stale)  # ... transaction 1's save is refused instead of undoing the ack
        tx1.rollback()
    row = alert_rows(adb)[alert_id]
    assert (row["state"], row["acknowledged_by"], row["escalation_tier"], row["row_version"]) == (
        "acknowledged",
        "wang",
        0,
        1,
    )


def test_a_save_waiting_on_an_uncommitted_acknowledgement_is_refused_once_it_commits(adb: Engine) -> None:
    """The check sits in the UPDATE's WHERE: a writer blocked on the row lock re-checks the committed row."""
    cfg = rules()
    (alert_id,) = seed(adb, 1)
    outcome: list[BaseException | None] = []
    with adb.connect() as c1, adb.connect() as c2:
        tx1 = c1.begin()
        (stale,) = store.active_alerts(c1)
        tx2 = c2.begin()
        AlertService(c2, cfg, at(5)).acknowledge(alert_id, by="li")  # holds the row lock, not committed

        def save() -> None:
            try:
                store.save_alert(c1, stale)
                outcome.append(None)
            except StaleAlertError as exc:
                outcome.append(exc)

        t = threading.Thread(target=save)
        t.start()  # blocks on the row lock (or runs after the commit: the outcome is the same)
        tx2.commit()
        t.join(30)
        tx1.rollback()
    assert len(outcome) == 1 and isinstance(outcome[0], StaleAlertError)
    assert alert_rows(adb)[alert_id]["acknowledged_by"] == "li"


@pytest.fixture()
def ack_during_first_save(adb: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Before the first alert save of the code under test, an operator acknowledges that alert and commits.

    The acknowledgement runs in the thread of the code under test, so it must not wait on that code's locks:
    with no routes it enqueues nothing (no unique-key wait on the tick's uncommitted outbox rows).
    """
    cfg = rules(routed=False)
    real = store.save_alert
    done: list[int] = []

    def racing(conn: Connection, alert: Alert) -> Alert:
        if not done and alert.id is not None:
            done.append(alert.id)
            acknowledge(adb, cfg, alert.id, "zhao", at(399))
        return real(conn, alert)

    monkeypatch.setattr(store, "save_alert", racing)
    yield done


def test_tick_redoes_its_work_when_an_ack_lands_between_its_read_and_its_save(
    adb: Engine, ack_during_first_save: list[int]
) -> None:
    (alert_id,) = seed(adb, 1)
    result = AlertEngine(adb, None, rules(routed=False), now=lambda: at(400)).tick()  # red, unacknowledged for 400 s
    assert ack_during_first_save == [alert_id]
    assert result.escalated == 0  # the retry read the acknowledged alert: nothing left to escalate
    row = alert_rows(adb)[alert_id]
    assert (row["state"], row["acknowledged_by"], row["escalation_tier"]) == ("acknowledged", "zhao", 0)
    assert ack_transitions(adb) == {alert_id: ["zhao"]}
    with adb.connect() as c:
        kinds = (
            c.execute(
                select(alert_transitions.c.kind)
                .where(alert_transitions.c.alert_id == alert_id)
                .order_by(alert_transitions.c.id)
            )
            .scalars()
            .all()
        )
    assert kinds == ["fired", "acknowledged"]  # the discarded attempt left no escalation entry


# -- the event-log consumer ------------------------------------------------------------------------------


def _consumer(adb: Engine, eng: AlertEngine) -> EventConsumer:
    c = EventConsumer(
        adb, f"test-{uuid.uuid4().hex[:8]}", eng.handle_in, handle_batch=eng.handle_batch_in, kinds={EventKind.ANOMALY}
    )
    c.start_from_now()
    return c


def _cursor(adb: Engine, name: str) -> int:
    with adb.connect() as conn:
        return int(conn.execute(text("SELECT last_seq FROM event_cursors WHERE consumer = :c"), {"c": name}).scalar())


def _run_until_handled(c: EventConsumer, timeout_s: float = 60.0) -> int:
    """``run_once`` until it handles something (or the timeout passes)."""
    deadline = time.monotonic() + timeout_s
    while True:
        n = c.run_once()
        if n or time.monotonic() > deadline:
            return n
        time.sleep(0.05)


def _fail_saves(monkeypatch: pytest.MonkeyPatch, n: int) -> list[int]:
    """The first ``n`` alert saves write their row and then report a conflict (as if someone saved it)."""
    real = store.save_alert
    calls: list[int] = []

    def flaky(conn: Connection, alert: Alert) -> Alert:
        saved = real(conn, alert)
        calls.append(1)
        if len(calls) <= n:
            raise StaleAlertError(saved.id or 0, saved.row_version, saved.row_version + 1)
        return saved

    monkeypatch.setattr(store, "save_alert", flaky)
    return calls


def test_consumer_batch_that_conflicts_once_is_redone_in_its_savepoint(
    adb: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    eng = AlertEngine(adb, None, rules(), now=lambda: at(1))
    c = _consumer(adb, eng)
    try:
        PgEventLog(adb).publish(anomaly(level=Level.ORANGE))
        calls = _fail_saves(monkeypatch, 1)
        assert _run_until_handled(c) == 1
        assert len(calls) == 2  # the first attempt (rolled back to its savepoint) and the retry
        rows = alert_rows(adb)
        assert len(rows) == 1 and next(iter(rows.values()))["state"] == "firing"
        with adb.connect() as conn:
            kinds = conn.execute(select(alert_transitions.c.kind)).scalars().all()
        assert kinds == ["fired"]  # the discarded attempt's audit entry is gone with it
    finally:
        with adb.begin() as conn:
            conn.execute(text("DELETE FROM event_cursors WHERE consumer = :c"), {"c": c.name})


def test_consumer_batch_that_keeps_conflicting_rolls_back_and_is_retried(
    adb: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    eng = AlertEngine(adb, None, rules(), now=lambda: at(1))
    c = _consumer(adb, eng)
    try:
        before = _cursor(adb, c.name)
        PgEventLog(adb).publish(anomaly(level=Level.ORANGE))
        _fail_saves(monkeypatch, retry.ATTEMPTS)
        with pytest.raises(retry.ConflictError, match="still conflicting after 5 attempts"):
            _run_until_handled(c)
        assert _cursor(adb, c.name) == before and alert_rows(adb) == {}  # nothing kept, cursor did not move
        assert _run_until_handled(c) == 1  # what EventConsumer.run_forever does after a failed batch
        assert _cursor(adb, c.name) > before and len(alert_rows(adb)) == 1
    finally:
        with adb.begin() as conn:
            conn.execute(text("DELETE FROM event_cursors WHERE consumer = :c"), {"c": c.name})


# -- (b) racing ------------------------------------------------------------------------------------------


def test_racing_ticks_never_lose_an_acknowledgement(adb: Engine) -> None:
    """Ticks escalate every unacknowledged alert on each run (one tier per tick), so they keep saving exactly
    the rows operators are acknowledging; every acknowledgement must survive."""
    n_alerts, ack_threads, tick_threads, ticks = 20, 4, 2, 15
    cfg = rules(ack_within_s=1, tiers=1000)
    ids = seed(adb, n_alerts)
    far = at(10**6)  # every tier is overdue
    eng = AlertEngine(adb, None, cfg)
    start = threading.Barrier(ack_threads + tick_threads, timeout=120)
    errors: list[BaseException] = []
    skipped: list[int] = []
    escalated: list[int] = []
    owner = {alert_id: f"op{i % ack_threads}" for i, alert_id in enumerate(ids)}

    def ticker(k: int) -> None:
        for i in range(ticks):
            if i == 1:
                start.wait()  # after a first tick that escalated every alert, however slow the machine is
            try:
                escalated.append(eng.tick(far + timedelta(seconds=k * ticks + i)).escalated)
            except retry.ConflictError:
                skipped.append(1)  # the worker logs and skips it; the next tick redoes the work
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

    def operator(k: int) -> None:
        rnd = random.Random(k)
        start.wait()
        for alert_id in [a for a in ids if owner[a] == f"op{k}"]:
            threading.Event().wait(rnd.uniform(0, 0.3))  # spread the acks over the ticks (no timing asserted)
            try:
                acknowledge(adb, cfg, alert_id, f"op{k}", far)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

    threads = [threading.Thread(target=ticker, args=(k,)) for k in range(tick_threads)]
    threads += [threading.Thread(target=operator, args=(k,)) for k in range(ack_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert sum(escalated) > 0  # the premise: ticks kept saving the rows being acknowledged
    rows = alert_rows(adb)
    assert {i: (rows[i]["state"], rows[i]["acknowledged_by"]) for i in ids} == {
        i: (AlertState.ACKNOWLEDGED.value, owner[i]) for i in ids
    }
    assert ack_transitions(adb) == {i: [owner[i]] for i in ids}  # one audit entry each, none lost


# -- the API ---------------------------------------------------------------------------------------------


def test_api_action_retries_a_conflict_and_answers_409_if_it_persists(
    adb: Engine, api_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = seed(adb, 2)
    calls = _fail_saves(monkeypatch, 1)  # one conflict: redone from a fresh read, the operator sees nothing
    r = api_client.post(f"/api/v1/alerts/{a}/ack", json={})
    assert r.status_code == 200 and r.json()["state"] == "acknowledged" and len(calls) == 2
    actor = api_client.get("/api/v1/session").json()
    assert ack_transitions(adb) == {a: [f"{actor['name']} [{actor['key_id']}]"]}  # once, not once per attempt
    _fail_saves(monkeypatch, retry.ATTEMPTS)  # conflicting on every attempt: 409 with the reason, nothing kept
    r = api_client.post(f"/api/v1/alerts/{b}/ack", json={})
    assert r.status_code == 409
    assert r.json()["detail"].startswith(f"conflict: acknowledge alert {b}: still conflicting after 5 attempts")
    assert alert_rows(adb)[b]["state"] == "firing" and b not in ack_transitions(adb)
