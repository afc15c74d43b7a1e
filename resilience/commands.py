"""Service sub-commands: ``migrate``, ``api``, ``ingest``, ``scheduler``, ``run`` (all together, supervised)."""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import subprocess
import sys
import time

from resilience.logs import setup_logging
from resilience.settings import accelerated_silence_env, get_settings


def _migrate(args: argparse.Namespace) -> int:
    from resilience.store.db import migrate

    migrate()
    print("database migrated to head")
    return 0


def _api(args: argparse.Namespace) -> int:
    import uvicorn

    from resilience.api.main import create_app

    s = get_settings()
    setup_logging(s.log_level, s.log_format, "api")
    uvicorn.run(create_app(), host=args.host or s.api_host, port=args.port or s.api_port, log_level="warning")
    return 0


def _ingest(args: argparse.Namespace) -> int:
    from ingest.mqtt_worker import run_worker

    s = get_settings()
    setup_logging(s.log_level, s.log_format, "ingest")
    run_worker(s, metrics_port=args.metrics_port)
    return 0


def _scheduler(args: argparse.Namespace) -> int:
    from resilience.scheduler import run_scheduler

    s = get_settings()
    setup_logging(s.log_level, s.log_format, "scheduler")
    run_scheduler(s)
    return 0


def _detector(args: argparse.Namespace) -> int:
    from resilience.store.db import make_engine
    from resilience.workers.detector_worker import DetectionWorker

    s = get_settings()
    setup_logging(s.log_level, s.log_format, "detector")
    DetectionWorker(make_engine(s.database_url), s).run()
    return 0


def _engine(args: argparse.Namespace) -> int:
    from resilience.store.db import make_engine
    from resilience.workers.engine_worker import run_engine

    s = get_settings()
    setup_logging(s.log_level, s.log_format, "engine")
    run_engine(make_engine(s.database_url), s)
    return 0


def _train_models(args: argparse.Namespace) -> int:
    from resilience.scheduler import refit_state_models, train_asset_models
    from resilience.store.db import get_engine

    s = get_settings()
    setup_logging(s.log_level, s.log_format, "train")
    print(f"asset models trained: {train_asset_models(get_engine())}")
    print(f"state models fitted: {refit_state_models(get_engine())}")
    return 0


SERVICES = ["api", "ingest", "detector", "engine", "scheduler"]


def _run(args: argparse.Namespace) -> int:
    """Start services, migrate, then supervise every process (restarting any that dies); Ctrl-C stops all."""
    from resilience.services import start_all
    from resilience.store.db import migrate

    s = get_settings()
    setup_logging(s.log_level, s.log_format, "run")
    if args.simulate and importlib.util.find_spec("resilience.simulator") is None:
        print("the simulator is not installed here (the production image leaves it out): use --no-simulate, "
              "or run from a checkout", file=sys.stderr)
        return 2
    for line in start_all(s):
        print(line)
    env = os.environ.copy()
    if args.simulate:
        # The demo city lives in a database of its own, recreated on every run, so each run starts clean (its
        # incidents replay on the same assets); `resilience run --no-simulate` serves the real database.
        from resilience.simulator.city import build_city
        from resilience.simulator.registry import seed_registry
        from resilience.store.api_keys import create_key
        from resilience.store.db import make_engine, recreate_database

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
        print(f"demo city seeded in database {args.demo_db!r}")
        if args.speed > 1:
            for key, value in accelerated_silence_env(args.speed).items():
                env.setdefault(key, value)
    else:
        migrate()
    exe = [sys.executable, "-m", "resilience.cli"]
    wanted = {name: exe + [name] for name in SERVICES}
    if args.simulate:
        wanted["simulator"] = exe + ["simulate", "--sensors", str(args.sensors), "--speed", str(args.speed),
                                     "--incidents", args.incidents, "--truth", str(s.services_dir / "truth.json")]
    procs: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    for name, cmd in wanted.items():
        procs[name] = subprocess.Popen(cmd, env=env)
    print(f"\nLifeline platform running: API http://{s.api_host}:{s.api_port}/  (docs at /docs, "
          f"alerts at /api/v1/alerts, risk spectrum at /api/v1/risk/spectrum). Ctrl-C stops everything.", flush=True)
    if args.simulate:
        print(f"Log in at /login with the demo city's admin key in {s.services_dir / 'demo-key'}\n", flush=True)
    else:
        print("Log in with a key from `resilience keys create --name NAME --role operator`\n", flush=True)
    while not stopping:
        time.sleep(1)
        for name, p in list(procs.items()):
            if p.poll() is not None and not stopping:
                print(f"{name} exited with {p.returncode}; restarting", flush=True)
                time.sleep(1)
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
    if not args.keep_services:
        from resilience.services import stop_all

        for line in stop_all(s):
            print(line)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("migrate", help="apply database migrations")
    p.set_defaults(func=_migrate)
    p = sub.add_parser("api", help="run the HTTP API")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.set_defaults(func=_api)
    p = sub.add_parser("ingest", help="run the MQTT ingest worker")
    p.add_argument("--metrics-port", type=int, default=None, help="serve Prometheus metrics on this port")
    p.set_defaults(func=_ingest)
    p = sub.add_parser("scheduler", help="run periodic jobs (partitions, rollups, retention, silence checks)")
    p.set_defaults(func=_scheduler)
    p = sub.add_parser("detector", help="run the detection worker (committed readings -> anomaly events)")
    p.set_defaults(func=_detector)
    p = sub.add_parser("engine", help="run the risk model and alert engine on the event log, and the dispatcher")
    p.set_defaults(func=_engine)
    p = sub.add_parser("train-models", help="fit per-asset multivariate models and state models on the last week now")
    p.set_defaults(func=_train_models)
    p = sub.add_parser("run", help="start services and every process, with the simulator; Ctrl-C stops all")
    p.add_argument("--no-simulate", dest="simulate", action="store_false")
    p.add_argument("--sensors", type=int, default=2000)
    p.add_argument("--speed", type=float, default=1.0, help="simulated seconds per wall second (live demo: 1)")
    p.add_argument("--incidents", choices=["demo", "default", "none"], default="demo",
                   help="demo: one incident of each type in the first half hour")
    p.add_argument("--demo-db", default="resilience_demo", help="database of the demo city (recreated each run)")
    p.add_argument("--keep-services", action="store_true", help="leave PostgreSQL and Mosquitto running")
    p.set_defaults(func=_run)
