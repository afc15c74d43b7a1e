"""The production image installs the wheel and nothing else: build it, install it into a fresh virtual
environment (no source tree, no editable install, no test tools), and run what the ``migrate`` container and
an operator run first (``resilience migrate``, ``resilience config-check``) against a fresh database.

Dependencies come from the configured indexes or pip's cache; the test is skipped only when an install fails
and PyPI cannot be reached.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tomllib
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from alembic.script import ScriptDirectory

from resilience.core.settings import Settings
from resilience.store.db import alembic_config

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
# the top-level packages the wheel is built from (pyproject's packages.find include patterns)
SOURCE_PACKAGES = sorted(
    {
        pattern.split(".")[0].rstrip("*")
        for pattern in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"][
            "include"
        ]
    }
)
# what the migrate step and config-check read at run time, besides the Python modules
PACKAGED = [
    "alerts/rules.default.yaml",
    "migrations/env.py",
    "migrations/script.py.mako",
    "migrations/versions/0001_core.py",
    "resilience/console/static/console.html",
    "resilience/console/static/js/app.js",
    "resilience/console/static/i18n/messages.zh-CN.json",
]
# what production does not run, kept out of the wheel (pyproject's packages.find exclude)
TOOLS = ("resilience/simulator/", "resilience/bench/")
if (ROOT / "resilience/console/static/vendor/echarts.esm.min.js").exists():  # built by `make console`
    PACKAGED.append("resilience/console/static/vendor/echarts.esm.min.js")


def _pypi_reachable() -> bool:
    try:
        with socket.create_connection(("pypi.org", 443), timeout=5):
            return True
    except OSError:
        return False


def _run(cmd: list[str | Path], *, cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without anything that would let the fresh venv see this checkout or its venv."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONSAFEPATH")
        and not k.startswith("RESILIENCE_")
    }
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(ROOT)))
    env.update(extra)
    return env


def _can_build_without_isolation() -> bool:
    """The venv's setuptools can make a wheel by itself (bdist_wheel built in from 70.1, or the wheel package)."""
    try:
        import setuptools

        if tuple(int(x) for x in setuptools.__version__.split(".")[:2]) >= (70, 1):
            return True
        import wheel  # noqa: F401

        return True
    except (ImportError, ValueError):
        return False


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with only the built wheel (and its dependencies) installed; returns its bin directory."""
    tmp = tmp_path_factory.mktemp("wheel")
    env = _clean_env()
    # build from a copy of what the Dockerfile copies, so no build/ or egg-info is left in the checkout
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for name in SOURCE_PACKAGES:
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "node_modules"))
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp / "dist", src]
    if _can_build_without_isolation():
        build.insert(4, "--no-build-isolation")
    out = _run(build, cwd=tmp, env=env, timeout=180)
    if out.returncode != 0 and "--no-build-isolation" not in build and not _pypi_reachable():
        pytest.skip("building the wheel needs setuptools from an index and PyPI is unreachable")
    assert out.returncode == 0, out.stdout + out.stderr
    wheels = list((tmp / "dist").glob("resilience-*.whl"))
    assert len(wheels) == 1, wheels
    names = set(zipfile.ZipFile(wheels[0]).namelist())
    missing = [p for p in PACKAGED if p not in names]
    assert not missing, f"the wheel lacks {missing}"
    tools = sorted(n for n in names if n.startswith(TOOLS))
    assert not tools, f"tools production does not run are in the wheel: {tools[:5]}"

    venv = tmp / "venv"
    out = _run([sys.executable, "-m", "venv", venv], cwd=tmp, env=env, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    out = _run([venv / "bin" / "python", "-m", "pip", "install", "-q", wheels[0]], cwd=tmp, env=env, timeout=300)
    if out.returncode != 0 and not _pypi_reachable():
        pytest.skip(f"installing the wheel's dependencies needs PyPI, which is unreachable: {out.stderr[-500:]}")
    assert out.returncode == 0, out.stdout + out.stderr
    return venv / "bin"


@pytest.fixture()
def fresh_db(services: Settings) -> Iterator[str]:
    """An empty database (not migrated): the wheel's ``resilience migrate`` must do it."""
    admin = f"postgresql://{services.db_user}:{services.db_password}@{services.db_host}:{services.db_port}/postgres"
    name = f"test_wheel_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://{services.db_user}:{services.db_password}@{services.db_host}:{services.db_port}/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_installed_wheel_migrates_and_checks_config(installed: Path, fresh_db: str, tmp_path: Path) -> None:
    # a working directory outside the checkout: nothing of the source tree is importable from here
    cwd = tmp_path
    env = _clean_env(RESILIENCE_DATABASE_URL_OVERRIDE=fresh_db)

    out = _run(
        [
            installed / "python",
            "-c",
            "import resilience, migrations, alerts.config as c; "
            "print(resilience.__file__); print(migrations.__file__); print(c.DEFAULT_RULES_PATH)",
        ],
        cwd=cwd,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    venv = installed.parent
    for line in out.stdout.split():
        assert Path(line).is_relative_to(venv), f"{line} is not from the installed wheel"
        assert not Path(line).is_relative_to(ROOT)
    # production commands do not need the test tools
    out = _run([installed / "python", "-c", "import pytest"], cwd=cwd, env=env, timeout=60)
    assert out.returncode != 0, "the fresh venv should not have pytest: it would hide a missing dependency"

    # every production service is a command of the installed wheel; the tools are not
    out = _run([installed / "resilience", "--help"], cwd=cwd, env=env, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    commands = {line.split()[0] for line in out.stdout.splitlines() if line.startswith("    ") and line[4] != " "}
    assert {"migrate", "api", "ingest", "detector", "engine", "scheduler", "config-check"} <= commands, commands
    assert "simulate" not in commands, commands

    out = _run([installed / "resilience", "migrate"], cwd=cwd, env=env, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "migrated" in out.stdout

    # the containers of docker-compose.yml run as production, with the alert rules shipped in the wheel
    prod = _clean_env(
        RESILIENCE_DATABASE_URL_OVERRIDE=fresh_db,
        RESILIENCE_ENVIRONMENT="production",
        RESILIENCE_LOG_FORMAT="json",
        RESILIENCE_WEBHOOK_SECRET="wheel-test-secret",
    )
    out = _run([installed / "resilience", "config-check"], cwd=cwd, env=prod, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("ok:"), out.stdout

    with psycopg.connect(fresh_db.replace("postgresql+psycopg://", "postgresql://", 1)) as conn:
        tables = {
            r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
        }
        version = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    assert {"alerts", "reading_batches", "alembic_version"} <= tables, sorted(tables)
    heads = ScriptDirectory.from_config(alembic_config(fresh_db)).get_heads()
    assert sorted(r[0] for r in version) == sorted(heads)
