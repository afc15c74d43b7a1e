"""The production layout (docker-compose.yml) and the project's own scripts, checked without Docker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
    assert set(doc["volumes"]) == {"pgdata", "mosquitto-data"}


def test_services_command_reports_status():
    out = subprocess.run([sys.executable, "-m", "resilience.cli", "services", "status"], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert out.returncode == 0
    assert "postgres:" in out.stdout and "mosquitto:" in out.stdout


def test_services_start_is_idempotent(services):
    out = subprocess.run([sys.executable, "-m", "resilience.cli", "services", "start"], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 0 and "already running" in out.stdout
