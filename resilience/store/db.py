"""Engines, raw psycopg connections and migrations: the only place that knows how we connect.

Modules outside the store import nothing from SQLAlchemy or psycopg (tests/spine/test_store_boundary.py):
the types they annotate with (``Connection``, ``Engine``) and the errors they catch are re-exported here.
"""

from __future__ import annotations

import importlib.util
import time
from functools import lru_cache
from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, make_url, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

__all__ = [
    "CONFLICT_SQLSTATES",
    "IDLE_IN_TRANSACTION_TIMEOUT_MS",
    "Connection",
    "DataError",
    "Engine",
    "IntegrityError",
    "OperationalError",
    "StoreBackoff",
    "alembic_config",
    "database_label",
    "database_problem",
    "get_engine",
    "is_conflict",
    "is_transient",
    "make_engine",
    "migrate",
    "migrations_dir",
    "ping",
    "psycopg_dsn",
    "raw_connect",
    "recreate_database",
]

from resilience.core.settings import PROJECT_ROOT, get_settings


# A write transaction left open holds back every gap-free consumer (resilience.store.cursors): none of the
# platform's own may idle inside a transaction for longer than this.
IDLE_IN_TRANSACTION_TIMEOUT_MS = 60_000


def make_engine(url: str | None = None, **kw: object) -> Engine:
    kw.setdefault("pool_pre_ping", True)
    kw.setdefault("pool_size", 10)
    kw.setdefault(
        "connect_args", {"options": f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_TIMEOUT_MS}"}
    )
    return create_engine(url or get_settings().database_url, **kw)


CONFLICT_SQLSTATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock detected


def is_conflict(exc: BaseException) -> bool:
    """The transaction lost a race with another one (serialization failure, deadlock): redo it afresh."""
    return isinstance(exc, sa_exc.DBAPIError) and getattr(exc.orig, "sqlstate", None) in CONFLICT_SQLSTATES


def is_transient(exc: BaseException) -> bool:
    """An outage or a conflict worth retrying (connection lost, server shutting down, deadlock, pool timeout),
    as opposed to the database refusing what was sent (bad data, a constraint): that would fail again."""
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        exc = exc.orig if exc.orig is not None else exc
    if isinstance(
        exc, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError, sa_exc.TimeoutError)
    ):
        return True
    return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError, ConnectionError, TimeoutError))


class StoreBackoff:
    """How long to wait before retrying the store after an outage: 0.5 s, doubling to 10 s; reset on success.
    Also says how long the store has been down (for heartbeats)."""

    def __init__(self) -> None:
        self.delay = 0.5
        self.down_since: float | None = None

    def failed(self) -> float:
        if self.down_since is None:
            self.down_since = time.monotonic()
        d, self.delay = self.delay, min(self.delay * 2, 10.0)
        return d

    def ok(self) -> None:
        self.delay, self.down_since = 0.5, None

    def down_s(self) -> float:
        return 0.0 if self.down_since is None else time.monotonic() - self.down_since


@lru_cache
def database_label(url: str | None = None) -> str:
    """Which database a URL reaches, as a person names it (``resilience_demo on 127.0.0.1:55432``), no password."""
    parsed = make_url(url or get_settings().database_url)
    return f"{parsed.database} on {parsed.host}:{parsed.port} as {parsed.username}"


def database_problem(exc: BaseException) -> str | None:
    """A command-line admin's failure said plainly, naming the database reached: unreachable, or not the
    platform's (no tables: most often the demo city lives in another database). None: not such a failure."""
    from psycopg import errors

    orig = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    label = database_label()
    if isinstance(orig, errors.UndefinedTable):
        return (
            f"database {label} has no platform tables ({str(orig).splitlines()[0]}). It is not migrated, or not "
            "the one you meant: the demo city of `make run` is in resilience_demo "
            "(RESILIENCE_DB_NAME=resilience_demo resilience ...); `resilience migrate` migrates this one"
        )
    if is_transient(exc) and not is_conflict(exc):
        return f"database {label} cannot be reached: {str(orig).splitlines()[0] if str(orig) else type(orig).__name__}"
    return None


def get_engine() -> Engine:
    return make_engine()


def ping(conn: Connection) -> None:
    """A round trip to the server (readiness): raises if the database does not answer."""
    conn.execute(text("SELECT 1"))


def psycopg_dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def raw_connect(url: str | None = None, **kw: object) -> psycopg.Connection:
    """A plain psycopg connection (COPY, LISTEN/NOTIFY) to the same database as the engine."""
    return psycopg.connect(psycopg_dsn(url or get_settings().database_url), **kw)  # type: ignore[arg-type]  # **kw: connect's own


def migrations_dir() -> Path:
    """The Alembic scripts: the ``migrations`` package installed beside ``resilience`` (a wheel puts both in
    site-packages; a checkout or editable install has both in the source tree), else wherever it imports from."""
    beside = PROJECT_ROOT / "migrations"
    if (beside / "env.py").is_file():
        return beside
    spec = importlib.util.find_spec("migrations")
    for loc in (spec.submodule_search_locations or []) if spec is not None else []:
        if (Path(loc) / "env.py").is_file():
            return Path(loc)
    raise FileNotFoundError("the migrations package (Alembic scripts) is not installed")


def alembic_config(url: str | None = None) -> Config:
    """Built in code, not read from ``alembic.ini``: an installed wheel has no ini, only the migrations package.
    (``alembic.ini`` stays at the top level for developers running ``alembic`` from the checkout.)"""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["url"] = url or get_settings().database_url
    return cfg


def migrate(url: str | None = None, revision: str = "heads") -> None:
    command.upgrade(alembic_config(url), revision)


def recreate_database(name: str) -> str:
    """Drop and create database ``name`` on the configured server, migrate it, and return its URL.

    For benchmarks and the demo city: throwaway databases that must start empty every time.
    """
    s = get_settings()
    admin = f"postgresql://{s.db_user}:{s.db_password}@{s.db_host}:{s.db_port}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = s.database_url.rsplit("/", 1)[0] + f"/{name}"
    migrate(url)
    return url


def analyze(conn: Connection) -> None:
    """Refresh the planner's statistics for the whole database (after a bulk load, before timing queries)."""
    conn.execute(text("ANALYZE"))
