"""``resilience run``: the whole platform on one machine, supervised, with the demo city's simulator.

It starts the local PostgreSQL and Mosquitto (``resilience.ops.local_services``), seeds a demo database (or
migrates the real one with ``--no-simulate``), starts every service as its own OS process, restarts any
that exits, and on Ctrl-C stops them all and the servers. Production runs the same services as
containers instead (``docker-compose.yml``); the simulator is not in the production image.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import subprocess
import sys
import time

from resilience.core.logs import setup_logging
from resilience.ops.local_services import start_all, stop_all
from resilience.core.settings import Settings, accelerated_silence_env, get_settings
from resilience.store.api_keys import create_key
from resilience.store.db import make_engine, migrate, recreate_database

SERVICES = ["api", "ingest", "detector", "engine", "scheduler"]


def metrics_ports(s: Settings) -> dict[str, int]:
    """Each service's Prometheus port under ``resilience run``: ``RESILIENCE_METRICS_PORT_BASE`` + its place."""
    return {name: s.metrics_port_base + i for i, name in enumerate(SERVICES)}


def run_platform(args: argparse.Namespace) -> int:
    """Start services, migrate, then supervise every process (restarting any that dies); Ctrl-C stops all."""
    s = get_settings()
    setup_logging(s.log_level, s.log_format, "run")
    if args.simulate and importlib.util.find_spec("resilience.simulator") is None:
        print(
            "the simulator is not installed here (the production image leaves it out): use --no-simulate, "
            "or run from a checkout",
            file=sys.stderr,
        )
        return 2
    for line in start_all(s):
        print(line)
    env = os.environ.copy()
    if args.simulate:
        env.update(seed_demo_city(args, s))
    else:
        migrate()
    exe = [sys.executable, "-m", "resilience.cli"]
    ports = metrics_ports(s)
    wanted = {name: exe + [name, "--metrics-port", str(ports[name])] for name in SERVICES}
    if args.simulate:
        wanted["simulator"] = exe + [
            "simulate",
            "--sensors",
            str(args.sensors),
            "--speed",
            str(args.speed),
            "--incidents",
            args.incidents,
            "--truth",
            str(s.services_dir / "truth.json"),
        ]
    print(
        f"\nLifeline platform running: API http://{s.api_host}:{s.api_port}/  (docs at /docs, "
        f"alerts at /api/v1/alerts, risk spectrum at /api/v1/risk/spectrum). Ctrl-C stops everything.",
        flush=True,
    )
    print(
        "Prometheus metrics: "
        + ", ".join(f"{name} http://{s.metrics_host}:{port}/metrics" for name, port in ports.items()),
        flush=True,
    )
    if args.simulate:
        print(f"Log in at /login with the demo city's admin key in {s.services_dir / 'demo-key'}\n", flush=True)
    else:
        print("Log in with a key from `resilience keys create --name NAME --role operator`\n", flush=True)
    supervise(wanted, env)
    if not args.keep_services:
        for line in stop_all(s):
            print(line)
    return 0


def seed_demo_city(args: argparse.Namespace, s: Settings) -> dict[str, str]:
    """A demo city in a database of its own, recreated on every run (so each run starts clean and its
    incidents replay on the same assets), with an admin key for the console; the environment to run in."""
    from resilience.simulator.city import build_city
    from resilience.simulator.registry import seed_registry

    env: dict[str, str] = {}
    url = recreate_database(args.demo_db)
    env["RESILIENCE_DATABASE_URL_OVERRIDE"] = url
    demo = make_engine(url)
    with demo.begin() as conn:  # the registry must exist before detection and the risk model load it
        seed_registry(conn, build_city(42, args.sensors))
        _, demo_key = create_key(conn, name="demo console (resilience run)", role="admin")
    demo.dispose()
    key_file = s.services_dir / "demo-key"
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.touch(mode=0o600)
    key_file.write_text(demo_key + "\n")
    print(
        f"demo city seeded in database {args.demo_db!r}; admin commands reach it with RESILIENCE_DB_NAME="
        f"{args.demo_db}, e.g. `RESILIENCE_DB_NAME={args.demo_db} .venv/bin/resilience keys create --name NAME "
        "--role operator`"
    )
    if args.speed > 1:
        for key, value in accelerated_silence_env(args.speed).items():
            env.setdefault(key, value)
    return env


POLL_S = 0.2  # how often a process's exit is looked for: a killed worker is replaced within a blink


class RestartPolicy:
    """The first exit is restarted at once (a red reading must not wait for its worker); exits that follow
    within ``window_s`` wait twice as long each time, up to ``max_s``, so a crash loop does not spin."""

    def __init__(self, window_s: float = 60.0, max_s: float = 10.0) -> None:
        self.window_s, self.max_s = window_s, max_s
        self.recent: dict[str, list[float]] = {}

    def delay(self, name: str, now: float) -> float:
        times = [t for t in self.recent.get(name, []) if now - t < self.window_s] + [now]
        self.recent[name] = times
        return 0.0 if len(times) == 1 else min(self.max_s, 0.5 * 2 ** (len(times) - 2))


def supervise(wanted: dict[str, list[str]], env: dict[str, str]) -> None:
    """Run each command as its own process, restart any that exits, and on SIGINT/SIGTERM stop them all
    (SIGTERM, then SIGKILL for any still running after 15 s)."""
    procs: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    for name, cmd in wanted.items():
        procs[name] = subprocess.Popen(cmd, env=env)
    restarts = RestartPolicy()
    while not stopping:
        time.sleep(POLL_S)
        for name, p in list(procs.items()):
            if p.poll() is not None and not stopping:
                delay = restarts.delay(name, time.monotonic())
                print(f"{name} exited with {p.returncode}; restarting in {delay:.1f} s", flush=True)
                time.sleep(delay)
                procs[name] = subprocess.Popen(wanted[name], env=env)
    print("stopping...", flush=True)
    for p in procs.values():
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for p in procs.values():
        try:
            p.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            p.kill()
