"""``make evaluate`` runs: a short simulated run through the real broker and processes, scored at the end.

Two simulated hours of a small city at 240x with the demonstration incidents (one of every type in the
first half hour), through ``scripts/evaluate-simulated-day.sh`` exactly as ``make evaluate`` runs it: the
broker's accounts for the run's own topic root, the ingest, detector and engine processes, the drain and
``resilience evaluate``. The simulator is frozen twice for 6 s on the way (an overloaded machine): each late
step then carries 24 simulated minutes, one utility's pack after another, which once made every sensor of
the next utility look silent at that moment. Nothing here asserts a time: only that the last line is
evaluate's ``key=value`` line, that every incident was caught, that the one silent sensor is the demo's
silent-sensor incident, and that the broker's accounts are back on the usual root.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from alerts.evaluate import SUMMARY_KEYS
from resilience.ops.broker_accounts import acl_file
from resilience.core.settings import get_settings
from tests.reliability.conftest import wait_for
from tests.spine.workers import ROOT

pytestmark = pytest.mark.slow
KEYS = SUMMARY_KEYS  # the evaluation's own last line


def _simulator(script: subprocess.Popen[str], out: Path) -> int | None:
    """The pid of the script's streaming simulator, once it publishes."""
    log = out / "simulate.log"
    if not log.exists() or "publishing to" not in log.read_text():
        return None
    found = subprocess.run(["pgrep", "-P", str(script.pid), "-f", "simulate.*--speed"], capture_output=True, text=True)
    return int(found.stdout.split()[0]) if found.stdout.split() else None


def _freeze(pid: int, seconds: float) -> None:
    try:
        os.kill(pid, signal.SIGSTOP)
        time.sleep(seconds)  # the fault's length, not a wait for anything
    except ProcessLookupError:
        return
    finally:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


def _run(tmp_path: Path, fault: Callable[[subprocess.Popen[str]], None]) -> str:
    """The short evaluation through the script, with ``fault`` applied once the simulator publishes; returns
    the summary after the common checks (every incident caught, the key=value line, the broker's root)."""
    own = ("RESILIENCE_DATABASE_URL_OVERRIDE", "RESILIENCE_MQTT_TOPIC_ROOT", "RESILIENCE_MQTT_CLIENT_ID")
    env = {k: v for k, v in os.environ.items() if k not in own}  # as from a shell: the script sets these
    env.update(SENSORS="300", SPEED="240", HOURS="2", INCIDENTS="demo", DB="resilience_eval_test", OUT=str(tmp_path))
    script = subprocess.Popen(
        ["bash", "scripts/evaluate-simulated-day.sh"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        fault(script)
        out, _ = script.communicate(timeout=1200)
    finally:
        if script.poll() is None:
            script.terminate()
            script.wait(timeout=60)
    assert script.returncode == 0, out[-4000:]
    summary = (tmp_path / "summary.txt").read_text()
    figures = dict(pair.split("=", 1) for pair in summary.strip().splitlines()[-1].split())
    assert tuple(figures) == KEYS, summary
    assert int(figures["incidents"]) >= 5, summary  # the demonstration schedule: every type the city has
    assert figures["caught"] == figures["incidents"], summary
    root = get_settings().mqtt_topic_root
    assert f"topic read {root}/#" in acl_file(get_settings()).read_text(), "the broker was left on the run's root"
    return summary


def _alerts_of_rule(summary: str, rule: str) -> int:
    """How many alerts of ``rule`` the run raised (the summary's "alerts by rule/hazard" rows)."""
    return sum(int(n) for r, _hazard, n in re.findall(r"^(\w+)\|(\w+)\|(\d+)$", summary, re.MULTILINE) if r == rule)


def test_a_short_simulated_evaluation_runs_and_catches_its_incidents(services, tmp_path) -> None:  # type: ignore[no-untyped-def]
    def freeze_twice(script: subprocess.Popen[str]) -> None:
        sim = wait_for(lambda: _simulator(script, tmp_path), 300, every=0.5)
        if sim:
            time.sleep(4)
            for _ in range(2):
                _freeze(sim, 6)
                time.sleep(4)

    summary = _run(tmp_path, freeze_twice)
    silent = re.search(r"^silent\|(\d+)$", summary, re.MULTILINE)
    assert silent is not None and int(silent.group(1)) == 1, summary  # the demo's silent sensor, no storm


def test_an_overloaded_machine_is_not_a_silent_city(services, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Processes spinning on twice the machine's cores for the whole simulated run: every stage is late, none
    is stopped. Lag is not silence: only the demo's silent sensor is silent, and the platform says at most once
    that it is behind. Nothing is timed: the hog runs until the script has scored."""
    hogs: list[subprocess.Popen[bytes]] = []

    def hog(script: subprocess.Popen[str]) -> None:
        wait_for(lambda: _simulator(script, tmp_path), 300, every=0.5)
        for _ in range(2 * (os.cpu_count() or 1)):
            hogs.append(subprocess.Popen([sys.executable, "-c", "while True: pass"]))

    try:
        summary = _run(tmp_path, hog)
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    assert hogs, "the CPU hog never started"
    silent = re.search(r"^silent\|(\d+)$", summary, re.MULTILINE)
    assert silent is not None and int(silent.group(1)) == 1, summary
    assert _alerts_of_rule(summary, "sensor_silent") == 1, summary  # the demo's silent sensor, none from lag
    assert _alerts_of_rule(summary, "platform_stalled") <= 1, summary
