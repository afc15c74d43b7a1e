"""The production layout (docker-compose.yml) and the project's own scripts, checked without Docker."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from resilience.cli.main import build_parser

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
    assert set(doc["volumes"]) == {"pgdata", "mosquitto-data", "mosquitto-accounts", "prometheus-data"}
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
    from resilience.core.settings import Settings

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


APP_SERVICES = ("api", "ingest", "detector", "engine", "scheduler")


def test_every_service_has_a_healthcheck():
    """Each long-running service says how to tell it is alive; only a one-shot (its health is its exit code,
    which others wait on) may switch the check off. The app services' checks are the probe the metrics tests
    run against real processes (tests/spine/test_metrics.py)."""
    services = _compose()["services"]
    for name, svc in services.items():
        check = svc.get("healthcheck")
        assert check, f"service {name} has no healthcheck"
        if check.get("disable"):
            assert svc.get("restart", "no") == "no", f"{name} is long-running: it needs a real healthcheck"
            waiting = [n for n, s in services.items() if (s.get("depends_on") or {}).get(name, {}).get("condition")]
            assert waiting, f"nobody waits for the one-shot {name}"
            continue
        test = check["test"]
        assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, name
    for name in APP_SERVICES:
        port = _metrics_port(services[name])
        test = services[name]["healthcheck"]["test"]
        assert test[:4] == ["CMD", "python", "-m", "resilience.metrics.probe"], name
        if name == "api":  # the API's liveness is /healthz, never /readyz (a stalled worker is not the API's)
            assert test[4:] == ["8000", "--path", "/healthz"]
        else:
            assert test[4:] == [str(port)], name


def _metrics_port(svc: dict) -> int:
    command = svc["command"]
    return int(command[command.index("--metrics-port") + 1])


def test_prometheus_scrapes_every_service_on_its_metrics_port():
    services = _compose()["services"]
    prom = services["prometheus"]
    assert "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prom["volumes"]
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = {
        job["job_name"]: [t for sc in job["static_configs"] for t in sc["targets"]] for job in config["scrape_configs"]
    }
    for name in APP_SERVICES:
        assert targets.get(name) == [f"{name}:{_metrics_port(services[name])}"], name
        assert not any(str(_metrics_port(services[name])) in p for p in services[name].get("ports", [])), (
            f"{name}'s metrics are for the compose network, not published"
        )
    # reachable from the other containers: the metrics listen on every address inside the container
    assert services["api"]["environment"]["RESILIENCE_METRICS_HOST"] == "0.0.0.0"
    promtool = shutil.which("promtool")
    if promtool:
        out = subprocess.run([promtool, "check", "config", str(ROOT / "deploy/prometheus/prometheus.yml")])
        assert out.returncode == 0
    datasources = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yaml").read_text())
    (ds,) = datasources["datasources"]
    assert ds["type"] == "prometheus" and ds["url"] == "http://prometheus:9090"


def test_make_run_gives_every_service_a_metrics_port_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    from resilience.runtime.supervisor import SERVICES, metrics_ports
    from resilience.core.settings import Settings

    monkeypatch.delenv("RESILIENCE_METRICS_PORT_BASE", raising=False)  # the documented default, not this shell's
    ports = metrics_ports(Settings(_env_file=None))  # type: ignore[call-arg]
    assert set(ports) == set(SERVICES) and len(set(ports.values())) == len(SERVICES)
    assert ports["ingest"] == 9101  # as documented and as the compose layout has it
    compose = _compose()["services"]
    assert {n: _metrics_port(compose[n]) for n in APP_SERVICES} == ports


def _catalogue() -> dict[str, str]:
    return json.loads((ROOT / "resilience/console/static/i18n/messages.zh-CN.json").read_text())


def _mappings(fc: dict) -> list[dict]:
    found = list(fc.get("defaults", {}).get("mappings", []))
    for o in fc.get("overrides", []):
        found += [m for p in o["properties"] if p["id"] == "mappings" for m in p["value"]]
    return found


def test_grafana_dashboards_name_levels_and_hazards_in_chinese():
    """Levels read as their names in their colours, hazards as their names, from the console's catalogue;
    the platform dashboard's text is Chinese and it reads the Prometheus data source."""
    from resilience.core.domain import Hazard, Level
    from resilience.metrics.platform import level_name

    zh = _catalogue()
    colours = {"none": "#e8ebef", "blue": "#1f77b4", "yellow": "#e6c200", "orange": "#ff7f0e", "red": "#d62728"}
    by_number = {str(int(lv)): (zh[f"level.{lv.name.lower()}"], colours[lv.name.lower()]) for lv in Level}
    by_name = {level_name(lv): (zh[f"level.{level_name(lv)}"], colours[level_name(lv)]) for lv in Level if lv > 0}
    hazards = {h.value: zh[f"hazard.{h.value}"] for h in Hazard}
    dashboards = ROOT / "deploy/grafana/dashboards"
    for path in ("lifeline.json", "platform.json"):
        dash = json.loads((dashboards / path).read_text())
        maps = [m["options"] for p in dash["panels"] for m in _mappings(p.get("fieldConfig", {}))]
        levels = [m for m in maps if set(m) & {"red", "4"}]
        assert levels, f"{path} shows levels unnamed"
        for m in levels:  # by the label's name (Prometheus) or by the stored number (the store)
            assert {k: (v["text"], v["color"]) for k, v in m.items()} == (by_name if "red" in m else by_number), path
        haz = [m for m in maps if "gas_explosion" in m]
        assert haz and all({k: v["text"] for k, v in m.items()} == hazards for m in haz), path
    platform = json.loads((dashboards / "platform.json").read_text())
    han = re.compile(r"[\u4e00-\u9fff]")
    for panel in platform["panels"]:
        assert han.search(panel["title"]), f"panel {panel['title']!r} is not in Chinese"
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "lifeline-prom"
    assert han.search(platform["title"])


def test_the_image_context_leaves_out_local_state_and_secrets():
    """.dockerignore keeps the venv, the local database and keys (.local), .env, node_modules, git and the
    broker's accounts out of the build context; the Dockerfile copies only package sources."""
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for must in (".venv/", ".local/", ".env", "**/node_modules/", ".git/", "deploy/mosquitto/passwd*", "**/*.key"):
        assert must in ignored, f".dockerignore lets {must} into the image's context"
    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = []
    for line in dockerfile.splitlines():
        m = re.match(r"\s*COPY\s+(?!--from)(.+)", line)
        if m:
            copied += m.group(1).split()[:-1]
    assert copied and all(not src.startswith((".env", ".local", ".git", "deploy")) for src in copied), copied
    assert not re.search(r"^\s*(ENV|ARG)\s+\S*(PASSWORD|SECRET|KEY)", dockerfile, re.M | re.I), "a secret in the image"


def test_scale_out_override_runs_two_of_each_singleton_safely():
    """docker-compose.scale.yml: two ingest workers with instances of their own, the engine and the
    scheduler each with a standby (the leader lease), and still one detector (its shards are not leased)."""
    base = _compose()["services"]
    over = yaml.safe_load((ROOT / "docker-compose.scale.yml").read_text())["services"]
    parser_cmds = set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    instances: dict[str, list[str]] = {}
    for name, svc in over.items():
        command = svc["command"]
        assert command[0] in parser_cmds, name
        assert "--instance" in command, f"{name} has no stable instance"
        instances.setdefault(command[0], []).append(command[command.index("--instance") + 1])
        if name not in base:
            assert svc["extends"]["file"] == "docker-compose.yml" and svc["extends"]["service"] in base, name
            assert svc["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
    for cmd in ("ingest", "engine", "scheduler"):
        assert len(instances[cmd]) == 2 and len(set(instances[cmd])) == 2, (cmd, instances)
    assert "detector" not in instances, "two detectors would each score every reading"
