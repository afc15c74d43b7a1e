"""The production layout (docker-compose.yml) and the project's own scripts, checked without Docker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from resilience.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


def test_compose_file_is_the_production_layout():
    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = doc["services"]
    assert {"timescaledb", "mosquitto", "api", "ingest", "detector", "engine", "scheduler", "migrate"} <= set(services)
    assert services["timescaledb"]["image"].startswith("timescale/timescaledb")
    assert "healthcheck" in services["timescaledb"]
    assert any("mosquitto-data" in v for v in services["mosquitto"]["volumes"])
    conf = (ROOT / "deploy" / "mosquitto.conf").read_text()
    assert "persistence true" in conf
    commands = {name: svc["command"][0] for name, svc in services.items() if "command" in svc}
    parser_cmds = set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    for name, cmd in commands.items():
        assert cmd in parser_cmds, f"service {name} runs unknown command {cmd!r}"
        assert services[name].get("depends_on"), f"service {name} has no dependencies declared"
    for name in ("api", "ingest", "detector", "engine", "scheduler"):
        env = services[name]["environment"]
        assert env["RESILIENCE_DB_HOST"] == "timescaledb" and env["RESILIENCE_MQTT_HOST"] == "mosquitto"
    assert set(doc["volumes"]) == {"pgdata", "mosquitto-data", "mosquitto-accounts"}
    # the broker follows the accounts the scheduler writes from the registry: same volume, read-only there
    out = services["scheduler"]["environment"]["RESILIENCE_MQTT_AUTH_OUT"]
    assert f"mosquitto-accounts:{out}" in services["scheduler"]["volumes"]
    assert "mosquitto-accounts:/mosquitto/accounts:ro" in services["mosquitto"]["volumes"]
    script = services["mosquitto"]["entrypoint"][-1]
    assert (
        script == "/mosquitto/deploy/follow-accounts.sh"
        and "./deploy/mosquitto:/mosquitto/deploy:ro" in services["mosquitto"]["volumes"]
    )
    assert subprocess.run(["sh", "-n", str(ROOT / "deploy/mosquitto/follow-accounts.sh")]).returncode == 0
    for path in ("/mosquitto/auth/passwd", "/mosquitto/auth/acl", "/mosquitto/deploy/certs/server.key"):
        assert path in conf
    # utilities connect on 8883 only, with their own accounts and client ids forced to their logins
    assert "per_listener_settings true" in conf
    settings_lines = "\n".join(line for line in conf.splitlines() if not line.startswith("#"))
    platform, devices = settings_lines.split("listener 8883", 1)
    assert "use_username_as_clientid true" in devices and "use_username_as_clientid" not in platform
    assert "/mosquitto/auth/passwd-devices" in devices and "/mosquitto/auth/passwd-devices" not in platform


def test_services_command_reports_status():
    out = subprocess.run(
        [sys.executable, "-m", "resilience.cli", "services", "status"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert out.returncode == 0
    assert "postgres:" in out.stdout and "mosquitto:" in out.stdout


def test_services_start_is_idempotent(services):
    out = subprocess.run(
        [sys.executable, "-m", "resilience.cli", "services", "start"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert out.returncode == 0 and "already running" in out.stdout


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_services_reference_what_exists():
    """Every service has an image or a build context with a Dockerfile, a command the CLI accepts with those
    arguments, dependencies on services defined here (a health condition only on a service with a healthcheck,
    completion only on a one-shot), named volumes declared, and bind-mounted host files present in the repo."""
    doc = _compose()
    services = doc["services"]
    named_volumes = set(doc.get("volumes") or {})
    parser = build_parser()
    for name, svc in services.items():
        assert svc.get("image") or svc.get("build"), f"service {name} has neither image nor build"
        build = svc.get("build")
        if build is not None:
            context = build if isinstance(build, str) else build.get("context", ".")
            dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
            assert (ROOT / context / dockerfile).is_file(), f"service {name} builds from a missing {dockerfile}"
        if "command" in svc:
            command = svc["command"]
            assert isinstance(command, list) and all(isinstance(c, str) for c in command), name
            try:
                args = parser.parse_args(command)
            except SystemExit:
                pytest.fail(f"service {name}: `resilience {' '.join(command)}` is rejected by the CLI")
            assert callable(getattr(args, "func", None)), name
        depends = svc.get("depends_on") or {}
        for dep, spec in depends.items() if isinstance(depends, dict) else ((d, {}) for d in depends):
            assert dep in services, f"service {name} depends on undefined service {dep}"
            assert dep != name
            condition = (spec or {}).get("condition", "service_started")
            assert condition in ("service_started", "service_healthy", "service_completed_successfully"), condition
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep} to be healthy: it has no healthcheck"
            if condition == "service_completed_successfully":
                assert services[dep].get("restart", "no") == "no", f"{dep} must be one-shot for {name} to wait on it"
        for volume in svc.get("volumes") or []:
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
            if source.startswith((".", "/")):
                assert source.startswith("./"), f"service {name} mounts {source}: host paths must be in the repo"
                assert (ROOT / source).exists(), f"service {name} mounts {source}, which is not in the repo"
            else:
                assert source in named_volumes, f"service {name} uses undeclared volume {source}"


def test_compose_services_reach_the_database_it_defines(monkeypatch: pytest.MonkeyPatch):
    """The migrate step and the app services connect (host, port, user, database) to the timescaledb service."""
    from resilience.settings import Settings

    for key in [k for k in os.environ if k.startswith("RESILIENCE_")]:
        monkeypatch.delenv(key)  # only what the compose file sets, then the defaults
    services = _compose()["services"]
    db = services["timescaledb"]["environment"]
    for name, svc in services.items():
        env = svc.get("environment") or {}
        if "RESILIENCE_DB_HOST" not in env:
            continue
        fields = {k.removeprefix("RESILIENCE_").lower(): str(v) for k, v in env.items() if k.startswith("RESILIENCE_")}
        s = Settings(_env_file=None, **fields)  # type: ignore[call-arg]
        assert (s.db_host, s.db_port) == ("timescaledb", 5432), name
        assert s.db_name == db["POSTGRES_DB"], name
        if name == "migrate":  # the owner runs migrations, the only DDL
            assert s.db_user == db["POSTGRES_USER"] and env["RESILIENCE_DB_PASSWORD"] == db["POSTGRES_PASSWORD"]
        else:  # every service: the least-privileged login the database's init script makes
            assert s.db_user == "resilience_app", name
            assert env["RESILIENCE_DB_PASSWORD"] == db["RESILIENCE_DB_APP_PASSWORD"], name
    init = (ROOT / "deploy/postgres/init-roles.sh").read_text()
    assert "CREATE ROLE resilience_app LOGIN" in init and "IN ROLE resilience_service" in init
    assert any(v.endswith(":/docker-entrypoint-initdb.d/10-roles.sh:ro") for v in services["timescaledb"]["volumes"])
    assert subprocess.run(["bash", "-n", str(ROOT / "deploy/postgres/init-roles.sh")]).returncode == 0


def test_dockerfile_installs_the_wheel_of_every_package():
    """The image builds a wheel from every top-level package pyproject ships and installs only that wheel."""
    import re
    import tomllib

    dockerfile = (ROOT / "Dockerfile").read_text()
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {p.split(".")[0].rstrip("*") for p in include}
    copied: set[str] = set()
    for line in dockerfile.splitlines():
        m = re.match(r"\s*COPY\s+(?!--from)(.+)", line)
        if m:
            *sources, _dest = m.group(1).split()
            for src in sources:
                assert (ROOT / src).exists(), f"the Dockerfile copies {src}, which is not in the repo"
                copied.add(src.rstrip("/"))
    assert packages <= copied, f"the Dockerfile does not copy {sorted(packages - copied)}"
    assert "alembic.ini" not in copied, "migrations ship in the wheel; the image needs no alembic.ini"
    assert re.search(r"pip install[^\n]*\.whl", dockerfile), "the runtime stage should install the built wheel"
    assert 'ENTRYPOINT ["resilience"]' in dockerfile
