"""Admin commands say which database they reached: an unmigrated one (the demo city lives in another) or an
unreachable one is a plain sentence naming it, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import psycopg
from psycopg import sql

from resilience.core.settings import get_settings
from tests.spine.workers import ROOT


def _admin(args: list[str], url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RESILIENCE_DATABASE_URL_OVERRIDE": url}
    return subprocess.run(
        [sys.executable, "-m", "resilience.cli", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_keys_create_on_an_unmigrated_database_names_it_and_the_demo(services) -> None:  # type: ignore[no-untyped-def]
    s = get_settings()
    name = f"empty_{uuid.uuid4().hex[:8]}"
    admin = f"postgresql://{s.db_user}:{s.db_password}@{s.db_host}:{s.db_port}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = f"postgresql+psycopg://{s.db_user}:{s.db_password}@{s.db_host}:{s.db_port}/{name}"
        done = _admin(["keys", "create", "--name", "duty officer", "--role", "operator"], url)
        assert done.returncode == 1, done
        assert "Traceback" not in done.stderr, done.stderr
        assert f"database {name} on {s.db_host}:{s.db_port}" in done.stderr
        assert "no platform tables" in done.stderr and "resilience_demo" in done.stderr
        assert done.stdout == ""  # no key was printed
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def test_keys_create_names_the_database_it_wrote_to(db_url) -> None:  # type: ignore[no-untyped-def]
    done = _admin(["keys", "create", "--name", "engineer on call", "--role", "engineer"], db_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("rk_")
    assert f"in database {db_url.rsplit('/', 1)[1]} on " in done.stderr


def test_an_unreachable_database_is_said_plainly(services) -> None:  # type: ignore[no-untyped-def]
    done = _admin(["keys", "list"], "postgresql+psycopg://nobody:x@127.0.0.1:9/none")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "database none on 127.0.0.1:9" in done.stderr and "cannot be reached" in done.stderr
