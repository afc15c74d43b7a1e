"""Delivery faults with the real dispatcher process (``resilience dispatcher``) and real receivers.

Each test raises alerts in-process (their outbox rows commit, NOTIFY wakes the dispatcher), injects one
fault, and counts exactly: notifications in the outbox, their final states, and at the receiver both the raw
deliveries (every request or message it was handed; these receivers do not dedupe) and the distinct
idempotency keys. Nothing may be lost (distinct = notifications), and a key may arrive twice only when a
kill forced a resend of a message that was in flight.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, select, text

from alerts.channels.base import verify
from alerts.config import DEFAULT_RULES_PATH, RulesConfig, parse_rules
from alerts.consumer import AlertEngine
from alerts.store.schema import ALERT_TABLES, alerts, notifications
from alerts.service import DELIVERY_RULE
from resilience.core.domain import Level
from resilience.core.settings import Settings
from resilience.store.db import make_engine
from tests.conftest import fresh_database
from tests.alerts.helpers import anomaly
from tests.alerts.receivers import free_port
from tests.reliability.conftest import record, wait_for
from tests.spine.workers import spawn, worker_env

pytestmark = pytest.mark.slow  # fault injection on real worker processes

SECRET = "delivery-fault-secret"
LEASE_S = 3.0  # a message claimed by a killed dispatcher goes out again this long after the claim


# -- a database of this module's own: the counts cover the whole outbox ------------------------------------


@pytest.fixture(scope="module")
def fault_url(services: Settings) -> Iterator[str]:
    with fresh_database(services, "delivery") as url:
        yield url


@pytest.fixture()
def outbox(fault_url: str) -> Iterator[Engine]:
    """The module database with empty alert tables."""
    engine = make_engine(fault_url)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE " + ", ".join(t.name for t in ALERT_TABLES) + " RESTART IDENTITY CASCADE"))
    yield engine
    engine.dispose()


# -- the dispatcher process --------------------------------------------------------------------------------


class Dispatchers:
    """Starts ``resilience dispatcher`` (short lease and backoff, so the test stays bounded) and kills it."""

    def __init__(self, url: str, rules_path: Path) -> None:
        self.env = worker_env(url, RESILIENCE_ALERTS_RULES=str(rules_path), RESILIENCE_WEBHOOK_SECRET=SECRET)
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        args = ["dispatcher", "--lease-s", str(LEASE_S), "--backoff-initial-s", "0.5", "--backoff-max-s", "4"]
        p = spawn(args, self.env, "fault-dispatcher", ready="dispatcher running", timeout=60)
        self.procs.append(p)
        return p

    def kill(self, p: subprocess.Popen[bytes]) -> None:
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)

    def stop_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


@contextlib.contextmanager
def dispatchers(url: str, rules_path: Path) -> Iterator[Dispatchers]:
    d = Dispatchers(url, rules_path)
    try:
        yield d
    finally:
        d.stop_all()


# -- receivers that count everything ---------------------------------------------------------------------


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a reply to a killed dispatcher fails: expected here


class CountingWebhook:
    """Verifies signatures and records every delivery (no dedupe). ``hold_first``: the first request is
    received in full, then held unanswered until ``release`` is set (a dispatcher killed mid-send)."""

    def __init__(self, port: int | None = None, *, hold_first: bool = False) -> None:
        self.port = port or free_port()
        self.raw: list[str] = []  # idempotency keys, one per delivery
        self.bodies: dict[str, dict[str, Any]] = {}
        self.hold_first = hold_first
        self.held = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def distinct(self) -> set[str]:
        return set(self.raw)

    def start(self) -> CountingWebhook:
        rx = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if not verify(body, SECRET, self.headers.get("X-Lifeline-Signature", "")):
                    self.send_response(401)
                    self.end_headers()
                    return
                with rx._lock:
                    first = not rx.raw
                    rx.raw.append(self.headers["Idempotency-Key"])
                    rx.bodies[self.headers["Idempotency-Key"]] = json.loads(body)
                if first and rx.hold_first:
                    rx.held.set()
                    rx.release.wait(120)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = _QuietServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class RefusingSmtp:
    """An SMTP server that answers DATA with a refusal per recipient while ``refusing``, then accepts.

    ``tried`` has every key offered (refused or not), ``accepted`` every key taken: raw deliveries.
    """

    def __init__(self, refusals: dict[str, str]) -> None:
        self.refusals = refusals  # recipient -> reply, e.g. "550 5.1.1 mailbox unavailable"
        self.refusing = True
        self.tried: list[tuple[str, str]] = []  # (recipient, key)
        self.accepted: list[tuple[str, str]] = []
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        key = str(message_from_bytes(envelope.content)["Idempotency-Key"])
        (rcpt,) = envelope.rcpt_tos
        self.tried.append((rcpt, key))
        if self.refusing and rcpt in self.refusals:
            return self.refusals[rcpt]
        self.accepted.append((rcpt, key))
        return "250 OK"

    def __enter__(self) -> RefusingSmtp:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


# -- rules, alerts and the outbox ------------------------------------------------------------------------


def write_rules(
    path: Path,
    receivers: list[dict[str, Any]],
    route_to: list[str],
    *,
    failures_to: list[str] | None = None,
    smtp_port: int = 25,
) -> RulesConfig:
    """Default rules with these receivers only, sent at once (no group wait), no escalations; the same file
    is what the dispatcher process reads (for its SMTP server)."""
    data = yaml.safe_load(DEFAULT_RULES_PATH.read_text())
    data["defaults"].update(group_wait_s=0, group_interval_s=0, delivery_failure_receivers=failures_to or [])
    data["receivers"] = receivers
    data["routes"] = [{"receivers": route_to}]
    data["escalations"] = []
    data["smtp"] = {"host": "127.0.0.1", "port": smtp_port, "sender": "alerts@lifeline.local", "timeout_s": 5}
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return parse_rules(data)


def raise_alerts(engine: Engine, rules: RulesConfig, n: int) -> None:
    """``n`` orange gas alerts on distinct assets, each committed with its outbox rows."""
    eng = AlertEngine(engine, None, rules)
    for i in range(n):
        assert eng.handle(anomaly(level=Level.ORANGE, asset=f"F{i}", sensor=f"fs{i}", anomaly_id=f"fa{i}"))


def outbox_rows(engine: Engine, **where: object) -> list[dict[str, Any]]:
    q = select(notifications).order_by(notifications.c.id)
    for k, v in where.items():
        q = q.where(notifications.c[k] == v)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def counts(rows: list[dict[str, Any]], raw: list[str]) -> dict[str, int]:
    """The fault matrix columns: what the outbox holds and what the receiver was handed.

    lost: a notification neither at the receiver nor ended ``failed`` (a failure is accounted for: it raises
    the delivery-failure alert); duplicated: raw deliveries beyond the distinct keys; unknown: keys the
    receiver got that the outbox never had.
    """
    keys = {r["idempotency_key"] for r in rows}
    failed = {r["idempotency_key"] for r in rows if r["status"] == "failed"}
    return {
        "notifications": len(rows),
        "delivered": sum(r["status"] == "delivered" for r in rows),
        "failed": len(failed),
        "raw_deliveries": len(raw),
        "distinct_keys": len(set(raw)),
        "lost": len(keys - set(raw) - failed),
        "duplicated": len(raw) - len(set(raw)),
        "unknown": len(set(raw) - keys),
    }


def until(predicate: Callable[[], Any], timeout: float) -> Any:
    return wait_for(predicate, timeout, every=0.1)


# -- the faults ------------------------------------------------------------------------------------------

N = 5


def test_webhook_receiver_down_30s_then_up_delivers_every_notification_once(
    outbox: Engine, fault_url: str, tmp_path: Path
) -> None:
    rx = CountingWebhook()  # not started: connection refused
    rules = write_rules(tmp_path / "rules.yaml", [{"name": "hook", "type": "webhook", "url": rx.url}], ["hook"])
    with dispatchers(fault_url, tmp_path / "rules.yaml") as d:
        d.start()
        down_at = time.monotonic()
        raise_alerts(outbox, rules, N)
        assert until(lambda: all(r["attempts"] >= 1 for r in outbox_rows(outbox)), 30)
        time.sleep(max(0.0, 30 - (time.monotonic() - down_at)))
        during = outbox_rows(outbox)
        rx.start()
        try:
            assert until(lambda: all(r["status"] == "delivered" for r in outbox_rows(outbox)), 30), outbox_rows(outbox)
        finally:
            d.stop_all()  # nothing in flight when the receiver's counts are read
            rx.stop()
    rows = outbox_rows(outbox)
    c = counts(rows, rx.raw)
    record(
        {
            "fault": "webhook receiver down 30 s",
            "load": f"{N} notifications",
            **c,
            "attempts": sorted(r["attempts"] for r in rows),
        }
    )
    assert [r["status"] for r in during] == ["pending"] * N
    assert all(r["attempts"] >= 2 and "ConnectError" in (r["last_error"] or "") for r in during)  # really down
    assert c == {
        "notifications": N,
        "delivered": N,
        "failed": 0,
        "raw_deliveries": N,
        "distinct_keys": N,
        "lost": 0,
        "duplicated": 0,
        "unknown": 0,
    }


def test_smtp_permanent_refusal_fails_and_alerts_temporary_refusal_is_retried_and_delivered_once(
    outbox: Engine, fault_url: str, tmp_path: Path
) -> None:
    perm, temp = "gone@lifeline.local", "busy@lifeline.local"
    ops = CountingWebhook().start()
    with RefusingSmtp({perm: "550 5.1.1 mailbox unavailable", temp: "451 4.3.0 try again later"}) as smtp:
        rules = write_rules(
            tmp_path / "rules.yaml",
            [
                {"name": "perm", "type": "email", "to": [perm]},
                {"name": "temp", "type": "email", "to": [temp]},
                {"name": "ops", "type": "webhook", "url": ops.url},
            ],
            ["perm", "temp"],
            failures_to=["ops"],
            smtp_port=smtp.port,
        )
        with dispatchers(fault_url, tmp_path / "rules.yaml") as d:
            d.start()
            raise_alerts(outbox, rules, 2)
            # The permanent refusal ends at once; the temporary one is retried while the server refuses.
            assert until(lambda: len(outbox_rows(outbox, receiver="perm", status="failed")) == 2, 30)
            assert until(lambda: all(r["attempts"] >= 2 for r in outbox_rows(outbox, receiver="temp")), 30)
            refused = outbox_rows(outbox, receiver="temp")
            smtp.refusing = False
            assert until(lambda: len(outbox_rows(outbox, receiver="temp", status="delivered")) == 2, 30)
            tick = AlertEngine(outbox, None, rules).tick()  # the engine's tick raises the delivery-failure alert
            assert until(lambda: len(ops.raw) == 1, 30)  # ... and the dispatcher delivers it to ops
            d.stop_all()
    ops.stop()
    perm_rows, temp_rows = outbox_rows(outbox, receiver="perm"), outbox_rows(outbox, receiver="temp")
    c_perm = counts(perm_rows, [k for r, k in smtp.accepted if r == perm])
    c_temp = counts(temp_rows, [k for r, k in smtp.accepted if r == temp])
    record(
        {
            "fault": "SMTP 550 (permanent)",
            "load": "2 e-mails",
            **c_perm,
            "offered": len([k for r, k in smtp.tried if r == perm]),
        }
    )
    record(
        {
            "fault": "SMTP 451 (temporary), then accepting",
            "load": "2 e-mails",
            **c_temp,
            "offered": len([k for r, k in smtp.tried if r == temp]),
        }
    )
    # Permanent: one attempt each (never retried), failed with the server's reason, nothing delivered.
    assert [(r["status"], r["attempts"]) for r in perm_rows] == [("failed", 1)] * 2
    assert all("550" in r["last_error"] for r in perm_rows)
    assert sorted(k for r, k in smtp.tried if r == perm) == sorted(r["idempotency_key"] for r in perm_rows)
    assert c_perm == {
        "notifications": 2,
        "delivered": 0,
        "failed": 2,
        "raw_deliveries": 0,
        "distinct_keys": 0,
        "lost": 0,
        "duplicated": 0,
        "unknown": 0,
    }
    # Temporary: refused at least once, then delivered exactly once each.
    assert all("451" in (r["last_error"] or "") for r in refused)
    assert c_temp == {
        "notifications": 2,
        "delivered": 2,
        "failed": 0,
        "raw_deliveries": 2,
        "distinct_keys": 2,
        "lost": 0,
        "duplicated": 0,
        "unknown": 0,
    }
    # The platform's delivery-failure alert: one alert for the failing receiver, both failures as its sources
    # (the second failure joins the alert the first raised), each failure marked as alerted.
    assert tick.delivery_failures >= 1 and all(r["failure_alerted"] for r in outbox_rows(outbox, receiver="perm"))
    with outbox.connect() as conn:
        (failure,) = conn.execute(select(alerts).where(alerts.c.rule == DELIVERY_RULE)).mappings().all()
    assert failure["scope"] == "receiver:perm:email" and failure["state"] == "firing"
    assert sorted(failure["sources"]) == sorted(f"notification:{r['id']}" for r in perm_rows)
    (told,) = ops.bodies.values()
    assert told["alert"]["rule"] == DELIVERY_RULE and told["alert"]["id"] == failure["id"]


def test_dispatcher_sigkilled_while_sending_resends_after_restart_and_loses_nothing(
    outbox: Engine, fault_url: str, tmp_path: Path
) -> None:
    rx = CountingWebhook(hold_first=True).start()
    rules = write_rules(tmp_path / "rules.yaml", [{"name": "hook", "type": "webhook", "url": rx.url}], ["hook"])
    raise_alerts(outbox, rules, N)  # committed before any dispatcher runs
    try:
        with dispatchers(fault_url, tmp_path / "rules.yaml") as d:
            first = d.start()
            assert rx.held.wait(30)  # the first message is at the receiver, its answer held back
            claimed = outbox_rows(outbox)
            d.kill(first)  # ... SIGKILL while sending; the rest of the batch is claimed and unsent
            in_flight = rx.raw[0]
            rx.release.set()
            d.start()
            assert until(lambda: all(r["status"] == "delivered" for r in outbox_rows(outbox)), 60), outbox_rows(outbox)
            d.stop_all()
    finally:
        rx.stop()
    rows = outbox_rows(outbox)
    c = counts(rows, rx.raw)
    record({"fault": "dispatcher SIGKILL while sending", "load": f"{N} notifications", **c})
    # Every row was leased by the killed dispatcher (one claim took the batch) and is sent once more after
    # its lease: the one in flight reaches the receiver twice with the same key, the others once.
    assert [(r["status"], r["attempts"]) for r in claimed] == [("pending", 1)] * N
    assert [(r["status"], r["attempts"]) for r in rows] == [("delivered", 2)] * N
    assert rx.raw.count(in_flight) == 2
    assert c == {
        "notifications": N,
        "delivered": N,
        "failed": 0,
        "raw_deliveries": N + 1,
        "distinct_keys": N,
        "lost": 0,
        "duplicated": 1,
        "unknown": 0,
    }
