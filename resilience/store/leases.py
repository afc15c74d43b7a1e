"""Leader leases in PostgreSQL: one process at a time runs a singleton (the engine, the scheduler).

A lease is a row (name, holder, epoch, expires_at). ``acquire`` is one upsert whose UPDATE succeeds only
when the lease has expired or is the caller's own (a named instance restarted takes it back at once); every
take is a new epoch. ``renew`` extends it only for the epoch taken.

The epoch is a fencing token: ``fence`` makes every commit on the leader's engine first check, in the same
transaction, that the lease still names this holder and epoch and has not expired, under a share lock on the
lease row, so a takeover waits for a commit in flight and a paused old leader's late commit is refused
(``LeaseLost``). The leader's sessions also carry ``idle_in_transaction_session_timeout``: a leader paused
inside a transaction loses its session, and so its row locks, instead of holding up the takeover.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, event, text

log = logging.getLogger(__name__)

_TAKE = text("""
    INSERT INTO leases AS l (name, holder, epoch, expires_at)
    VALUES (:name, :holder, 1, now() + make_interval(secs => :lease_s))
    ON CONFLICT (name) DO UPDATE
       SET holder = EXCLUDED.holder, epoch = l.epoch + 1, expires_at = EXCLUDED.expires_at, acquired_at = now()
     WHERE l.expires_at < now() OR l.holder = EXCLUDED.holder
    RETURNING l.epoch
""")
_RENEW = text("""
    UPDATE leases SET expires_at = now() + make_interval(secs => :lease_s)
     WHERE name = :name AND holder = :holder AND epoch = :epoch
    RETURNING epoch
""")
_CHECK = "SELECT 1 FROM leases WHERE name = %s AND holder = %s AND epoch = %s AND expires_at > now() FOR SHARE"


class LeaseLost(RuntimeError):
    """This process no longer holds the lease: whatever it was about to commit is refused."""


def acquire(conn: Connection, name: str, holder: str, lease_s: float) -> int | None:
    """Take ``name`` for ``lease_s`` seconds if it expired or is this holder's (a restart under the same
    instance takes it back at once); the new epoch, or None while another holds it. Every take is a new
    epoch, so an earlier run of the same holder is fenced out."""
    epoch = conn.execute(_TAKE, {"name": name, "holder": holder, "lease_s": lease_s}).scalar()
    return None if epoch is None else int(epoch)


def renew(conn: Connection, name: str, holder: str, epoch: int, lease_s: float) -> bool:
    """Extend the lease this holder took at ``epoch``; False once another take replaced it."""
    args = {"name": name, "holder": holder, "epoch": epoch, "lease_s": lease_s}
    return conn.execute(_RENEW, args).scalar() is not None


def release(conn: Connection, name: str, holder: str) -> None:
    """A clean stop ends the lease at once, so the standby need not wait for it to expire."""
    conn.execute(
        text("UPDATE leases SET expires_at = now() - interval '1 ms' WHERE name = :n AND holder = :h"),
        {"n": name, "h": holder},
    )


def holder_name(process: str, instance: str | None) -> str:
    """``<process>-<instance>`` for a named copy (stable across its restarts); else the host and pid, so two
    unnamed copies are never one holder."""
    return f"{process}-{instance}" if instance else f"{process}-{socket.gethostname()}-{os.getpid()}"[:128]


@dataclass
class LeaderLease:
    """Holds lease ``name`` for this process: waits to become leader, renews every third of the lease, and
    sets ``lost`` (and ``stop``) when a renewal fails or finds another holder. ``engine`` is the lease's
    own (a small pool apart from the fenced work's), so a renewal never waits behind the work."""

    engine: Engine
    name: str
    holder: str
    lease_s: float = 10.0
    stop: threading.Event = field(default_factory=threading.Event)
    lost: threading.Event = field(default_factory=threading.Event)
    epoch: int | None = None
    _thread: threading.Thread | None = None

    def try_acquire(self) -> int | None:
        try:
            with self.engine.begin() as conn:
                self.epoch = acquire(conn, self.name, self.holder, self.lease_s)
        except Exception:  # noqa: BLE001 - the database is away: not leader, try again
            log.warning("lease %s: cannot reach the database", self.name, exc_info=True)
            return None
        return self.epoch

    def wait_leader(self) -> bool:
        """Block until this process holds the lease (True) or ``stop`` is set (False)."""
        logged = False
        while not self.stop.is_set():
            if self.try_acquire() is not None:
                log.info("lease %s acquired by %s, epoch %d", self.name, self.holder, self.epoch)
                self._thread = threading.Thread(target=self._renew, name=f"lease-{self.name}", daemon=True)
                self._thread.start()
                return True
            if not logged:
                log.info("standby: lease %s is held by another process; waiting", self.name)
                logged = True
            self.stop.wait(min(1.0, self.lease_s / 5))
        return False

    def _renew(self) -> None:
        """Renew every third of the lease; a renewal refused (another took it) or failing until the lease
        would have run out ends the leadership: the work stops, and its commits are refused meanwhile."""
        assert self.epoch is not None
        last_ok = time.monotonic()
        while not self.stop.wait(self.lease_s / 3):
            try:
                with self.engine.begin() as conn:
                    held = renew(conn, self.name, self.holder, self.epoch, self.lease_s)
            except Exception:  # noqa: BLE001 - retried until the lease would have expired
                log.warning("lease %s not renewed", self.name, exc_info=True)
                held = time.monotonic() - last_ok < self.lease_s
            else:
                last_ok = time.monotonic()
            if not held:
                log.error("lease %s (epoch %d) lost; stopping", self.name, self.epoch)
                self.lost.set()
                self.stop.set()
                return

    def release(self) -> None:
        if self.lost.is_set():
            return
        try:
            with self.engine.begin() as conn:
                release(conn, self.name, self.holder)
        except Exception:  # noqa: BLE001 - it then expires on its own
            log.warning("lease %s not released", self.name, exc_info=True)

    def fence(self, target: Engine, idle_timeout_s: float | None = None) -> None:
        """Every commit on ``target`` (the leader's work; not the lease's own engine) checks this lease
        first, in the committing transaction (see the module's docstring)."""
        timeout_ms = int(1000 * (idle_timeout_s if idle_timeout_s is not None else self.lease_s))

        @event.listens_for(target, "connect")
        def _timeout(dbapi_conn: Any, record: Any) -> None:
            with dbapi_conn.cursor() as cur:
                cur.execute(f"SET idle_in_transaction_session_timeout = {timeout_ms}")
            dbapi_conn.commit()

        @event.listens_for(target, "commit")
        def _check(conn: Connection) -> None:
            if self.epoch is None:
                raise LeaseLost(f"lease {self.name} not held by {self.holder}")
            dbapi_conn: Any = conn.connection.dbapi_connection
            with dbapi_conn.cursor() as cur:
                cur.execute(_CHECK, (self.name, self.holder, self.epoch))
                if cur.fetchone() is None:
                    self.lost.set()
                    self.stop.set()
                    raise LeaseLost(f"lease {self.name} epoch {self.epoch} is no longer held: commit refused")


def live_holder(conn: Connection, name: str) -> str | None:
    """Who holds lease ``name`` now (None when it is free or has run out)."""
    holder = conn.execute(
        text("SELECT holder FROM leases WHERE name = :n AND expires_at > now()"), {"n": name}
    ).scalar()
    return None if holder is None else str(holder)
