"""Test databases cloned from one migrated template, so a database per test package costs a file copy.

The template is migrated once per migrations digest (name ``resilience_template_<digest>``) and kept between
sessions; every clone is ``CREATE DATABASE x TEMPLATE resilience_template_<digest>``, with the template's
database-level grants (CONNECT, TEMPORARY for ``resilience_service``, migration 0006) copied over, since
PostgreSQL copies a database's contents but not its ACL.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy import Engine

from resilience.core.settings import Settings
from resilience.store.db import make_engine, migrate

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_PREFIX = "resilience_template"
LOCK_KEY = 0x7E57DB  # pg_advisory_lock key: one session at a time builds the template


def admin_dsn(s: Settings) -> str:
    return f"postgresql://{s.db_user}:{s.db_password}@{s.db_host}:{s.db_port}/postgres"


def database_url(s: Settings, name: str) -> str:
    return s.database_url.rsplit("/", 1)[0] + f"/{name}"


def migrations_digest() -> str:
    """Changes whenever a migration does: the template's name, so a stale template is never cloned."""
    h = hashlib.sha256()
    for path in sorted((ROOT / "migrations").rglob("*")):
        if path.is_file() and path.suffix in {".py", ".mako"}:
            h.update(path.relative_to(ROOT).as_posix().encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:12]


_built: dict[tuple[str, int], str] = {}  # server -> its template, once this process has made sure of it


def template_database(s: Settings) -> str:
    """The migrated template's name, built (under an advisory lock: xdist workers) if it does not exist."""
    server = (s.db_host, s.db_port)
    if server in _built:
        return _built[server]
    name = f"{TEMPLATE_PREFIX}_{migrations_digest()}"
    with psycopg.connect(admin_dsn(s), autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
        try:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
                _drop_stale_templates(conn, keep=name)
                _build_template(conn, s, name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])
    _built[server] = name
    return name


def _drop_stale_templates(conn: psycopg.Connection[tuple[object, ...]], keep: str) -> None:
    stale = conn.execute(
        "SELECT datname FROM pg_database WHERE datname LIKE %s AND datname <> %s", [f"{TEMPLATE_PREFIX}%", keep]
    ).fetchall()
    for (old,) in stale:
        ident = sql.Identifier(str(old))
        conn.execute(sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE false").format(ident))
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))


def _build_template(conn: psycopg.Connection[tuple[object, ...]], s: Settings, name: str) -> None:
    """Migrate under a scratch name and rename at the end: a run killed mid-migration leaves no template."""
    scratch = f"{name}_building_{uuid.uuid4().hex[:6]}"
    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))
    try:
        migrate(database_url(s, scratch))
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [scratch])
        conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(scratch), sql.Identifier(name)))
    except BaseException:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch)))
        raise
    conn.execute(
        sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false").format(sql.Identifier(name))
    )


def clone_database(s: Settings, name: str) -> str:
    """Create ``name`` from the template, with the template's database-level grants; return its URL."""
    template = template_database(s)
    with psycopg.connect(admin_dsn(s), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template)))
        grants = conn.execute(
            "SELECT a.privilege_type, r.rolname FROM pg_database d, aclexplode(d.datacl) a "
            "JOIN pg_roles r ON r.oid = a.grantee WHERE d.datname = %s AND r.oid <> d.datdba",
            [template],
        ).fetchall()
        for privilege, role in grants:
            conn.execute(
                sql.SQL("GRANT {} ON DATABASE {} TO {}").format(
                    sql.SQL(str(privilege)), sql.Identifier(name), sql.Identifier(str(role))
                )
            )
    return database_url(s, name)


def drop_database(s: Settings, name: str) -> None:
    with psycopg.connect(admin_dsn(s), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def unique_name(prefix: str) -> str:
    """``prefix`` plus the xdist worker (if any) and a random tag: no two sessions or workers share one."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return f"{prefix}_{worker + '_' if worker else ''}{uuid.uuid4().hex[:8]}"


@contextmanager
def fresh_database(s: Settings, prefix: str, *, from_template: bool = True) -> Iterator[str]:
    """A new database at head (its URL), dropped afterwards. ``from_template=False`` runs the migrations on
    an empty database instead (the migration tests, which are about exactly that)."""
    name = unique_name(prefix)
    if from_template:
        url = clone_database(s, name)
    else:
        with psycopg.connect(admin_dsn(s), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        url = database_url(s, name)
    try:
        if not from_template:
            migrate(url)
        yield url
    finally:
        drop_database(s, name)


class PackageDatabases:
    """One database per test package (``tests/<package>/``; files directly in ``tests/`` count as one),
    created on first use and dropped when the session ends: a package's results never depend on what
    another package left behind, whatever the order they run in."""

    def __init__(self, s: Settings) -> None:
        self.settings = s
        self._names: dict[str, str] = {}
        self._engines: dict[str, Engine] = {}

    def url(self, package: str) -> str:
        if package not in self._names:
            name = unique_name(f"test_{package}")
            clone_database(self.settings, name)
            self._names[package] = name
        return database_url(self.settings, self._names[package])

    def engine(self, package: str) -> Engine:
        if package not in self._engines:
            self._engines[package] = make_engine(self.url(package))
        return self._engines[package]

    def close(self) -> None:
        for engine in self._engines.values():
            engine.dispose()
        for name in self._names.values():
            drop_database(self.settings, name)
        self._engines.clear()
        self._names.clear()


def package_of(path: Path) -> str:
    """The test package a test file belongs to: the first folder under ``tests/``, or ``root``."""
    parts = path.resolve().relative_to(ROOT / "tests").parts
    return parts[0] if len(parts) > 1 else "root"
