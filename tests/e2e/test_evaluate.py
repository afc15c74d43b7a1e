"""``make evaluate`` runs: a short simulated run through the real broker and processes, scored at the end.

Two simulated hours of a small city at 240x with the demonstration incidents (one of every type in the
first half hour), through ``scripts/evaluate-simulated-day.sh`` exactly as ``make evaluate`` runs it: the
broker's accounts for the run's own topic root, the ingest, detector and engine processes, the drain and
``resilience evaluate``. Nothing here asserts a time: only that the last line is evaluate's ``key=value``
line, that every incident was caught, and that the broker's accounts are back on the usual root.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from resilience.mqtt_auth import acl_file
from resilience.settings import get_settings
from tests.spine.workers import ROOT

pytestmark = pytest.mark.slow
KEYS = ("incidents", "caught", "median_tta_s", "worst_tta_s", "false_per_day", "max_notifications_per_incident")


def test_a_short_simulated_evaluation_runs_and_catches_its_incidents(services, tmp_path) -> None:  # type: ignore[no-untyped-def]
    own = ("RESILIENCE_DATABASE_URL_OVERRIDE", "RESILIENCE_MQTT_TOPIC_ROOT", "RESILIENCE_MQTT_CLIENT_ID")
    env = {k: v for k, v in os.environ.items() if k not in own}  # as from a shell: the script sets these
    env.update(SENSORS="300", SPEED="240", HOURS="2", INCIDENTS="demo", DB="resilience_eval_test", OUT=str(tmp_path))
    done = subprocess.run(
        ["bash", "scripts/evaluate-simulated-day.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    last = (tmp_path / "summary.txt").read_text().strip().splitlines()[-1]
    figures = dict(pair.split("=", 1) for pair in last.split())
    assert tuple(figures) == KEYS, last
    assert int(figures["incidents"]) >= 5, last  # the demonstration schedule: every type the city has
    assert figures["caught"] == figures["incidents"], (tmp_path / "summary.txt").read_text()
    root = get_settings().mqtt_topic_root
    assert f"topic read {root}/#" in acl_file(get_settings()).read_text(), "the broker was left on the run's root"
