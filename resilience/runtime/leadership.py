"""Active/standby for the singleton processes (engine, scheduler): wait for the leader lease, fence the
work's engine with it, and end the process when it is lost (the supervisor restarts it as a standby).

Every copy starts; one holds the lease ``<process>`` and works, the others wait. The risk spectrum lives
in the engine's memory, so a standby builds it only when it takes over, from the event log after the
cursors, as a restarted engine does.
"""

from __future__ import annotations

import logging
import signal
import threading

from resilience.core.settings import Settings
from resilience.store.db import Engine, make_engine
from resilience.store.leases import LeaderLease, holder_name

log = logging.getLogger(__name__)
EXIT_LEASE_LOST = 75  # EX_TEMPFAIL: restart me (as a standby)


def stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def await_leadership(settings: Settings, process: str, stop: threading.Event) -> LeaderLease | None:
    """Block until this copy leads ``process``; the lease (None when leases are off). Raises SystemExit(0)
    if stopped while a standby."""
    if settings.leader_lease_s <= 0:
        return None
    lease_engine = make_engine(settings.database_url, pool_size=2, max_overflow=0)
    lease = LeaderLease(
        lease_engine, process, holder_name(process, settings.instance), settings.leader_lease_s, stop=stop
    )
    if not lease.wait_leader():
        log.info("%s standby stopped", process)
        raise SystemExit(0)
    return lease


def fenced_engine(settings: Settings, lease: LeaderLease | None) -> Engine:
    """The work's engine; with a lease, every commit on it first checks the lease (a fencing token)."""
    engine = make_engine(settings.database_url)
    if lease is not None:
        lease.fence(engine)
    return engine


def finish(lease: LeaderLease | None) -> int:
    """Release the lease on a clean stop (the standby takes over at once); the exit code."""
    if lease is None:
        return 0
    if lease.lost.is_set():
        log.error("lease %s lost: exiting so a restart rejoins as a standby", lease.name)
        return EXIT_LEASE_LOST
    lease.release()
    return 0
