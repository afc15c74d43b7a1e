"""Service sub-commands: ``migrate``, ``api``, ``ingest``, ``detector``, ``engine``, ``alerts``, ``dispatcher``,
``scheduler``, ``train-models``, ``run``. Each parses its options and calls its process's ``main`` in
``resilience/runtime/`` (imported only when the command runs, so one command never loads another's stack).
"""

from __future__ import annotations

import argparse
import os

from resilience.core.settings import Settings, get_settings


def _instance_settings(args: argparse.Namespace) -> Settings:
    """The settings, with ``--instance`` (one copy of a scaled-out service) over RESILIENCE_INSTANCE."""
    base = get_settings()
    return Settings(instance=args.instance) if getattr(args, "instance", None) else base


def _instance_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--instance",
        default=None,
        help="this copy's stable name (1-32 of A-Z a-z 0-9 _ -), kept across restarts (default: RESILIENCE_INSTANCE)",
    )


def _migrate(args: argparse.Namespace) -> int:
    from resilience.store.db import migrate

    migrate()
    print("database migrated to head")
    return 0


def _api(args: argparse.Namespace) -> int:
    from resilience.runtime import api_process

    return api_process.main(get_settings(), host=args.host, port=args.port, metrics_port=args.metrics_port)


def _ingest(args: argparse.Namespace) -> int:
    from resilience.runtime import ingest_process

    return ingest_process.main(_instance_settings(args), metrics_port=args.metrics_port)


def _scheduler(args: argparse.Namespace) -> int:
    from resilience.runtime import scheduler_process

    return scheduler_process.main(_instance_settings(args), metrics_port=args.metrics_port)


def _detector(args: argparse.Namespace) -> int:
    from resilience.runtime import detector_process

    return detector_process.main(get_settings(), metrics_port=args.metrics_port)


def _rules_path(args: argparse.Namespace) -> str | None:
    """``--rules``, else RESILIENCE_ALERTS_RULES (as the API reads it), else the default rules."""
    return args.rules or os.environ.get("RESILIENCE_ALERTS_RULES") or None


def _engine(args: argparse.Namespace) -> int:
    from resilience.runtime import engine_process

    return engine_process.main(_instance_settings(args), tick_s=args.tick_s, metrics_port=args.metrics_port)


def _alerts(args: argparse.Namespace) -> int:
    """The alert service alone: event-log consumer, ticks and dispatcher (the engine process without risk)."""
    from resilience.runtime import engine_process

    return engine_process.main(
        _instance_settings(args),
        rules_path=_rules_path(args),
        with_risk=False,
        tick_s=args.tick_s,
        metrics_port=args.metrics_port,
    )


def _dispatcher(args: argparse.Namespace) -> int:
    from alerts.dispatcher import DispatcherOptions
    from resilience.runtime import dispatcher_process

    opts = DispatcherOptions(
        lease_s=args.lease_s,
        backoff_initial_s=args.backoff_initial_s,
        backoff_max_s=args.backoff_max_s,
        max_attempts=args.max_attempts,
    )
    return dispatcher_process.main(get_settings(), opts, rules_path=_rules_path(args), metrics_port=args.metrics_port)


def _train_models(args: argparse.Namespace) -> int:
    from resilience.core.logs import setup_logging
    from resilience.runtime.scheduler_process import refit_state_models, train_asset_models
    from resilience.store.db import get_engine

    s = get_settings()
    setup_logging(s.log_level, s.log_format, "train")
    print(f"asset models trained: {train_asset_models(get_engine())}")
    print(f"state models fitted: {refit_state_models(get_engine())}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from resilience.runtime.supervisor import run_platform

    return run_platform(args)


def _metrics_port(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve Prometheus metrics on this port, at RESILIENCE_METRICS_HOST (0: a free port, logged)",
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from alerts.dispatcher import DispatcherOptions

    from resilience.runtime import registry_cli

    registry_cli.register(sub)
    p = sub.add_parser("migrate", help="apply database migrations")
    p.set_defaults(func=_migrate)
    p = sub.add_parser("api", help="run the HTTP API")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    _metrics_port(p)
    p.set_defaults(func=_api)
    p = sub.add_parser("ingest", help="run the MQTT ingest worker")
    _metrics_port(p)
    _instance_option(p)
    p.set_defaults(func=_ingest)
    p = sub.add_parser("scheduler", help="run periodic jobs (partitions, rollups, retention, silence checks)")
    _instance_option(p)
    _metrics_port(p)
    p.set_defaults(func=_scheduler)
    p = sub.add_parser("detector", help="run the detection worker (committed readings -> anomaly events)")
    _metrics_port(p)
    p.set_defaults(func=_detector)
    p = sub.add_parser("engine", help="run the risk model and alert engine on the event log, and the dispatcher")
    p.add_argument(
        "--tick-s", type=float, default=10.0, help="seconds between alert ticks (auto-resolve, re-open, escalation)"
    )
    _instance_option(p)
    _metrics_port(p)
    p.set_defaults(func=_engine)
    p = sub.add_parser("alerts", help="run the alert engine (event log consumer, ticks, dispatcher) without risk")
    p.add_argument("--rules", default=None)
    p.add_argument("--tick-s", type=float, default=10.0)
    _instance_option(p)
    _metrics_port(p)
    p.set_defaults(func=_alerts)
    p = sub.add_parser("dispatcher", help="run only the notification dispatcher")
    p.add_argument("--rules", default=None, help="rule file for the SMTP settings (default: RESILIENCE_ALERTS_RULES)")
    d = DispatcherOptions()
    p.add_argument(
        "--lease-s",
        type=float,
        default=d.lease_s,
        help="a claimed message is sent again this long after a dispatcher died holding it",
    )
    p.add_argument("--backoff-initial-s", type=float, default=d.backoff_initial_s)
    p.add_argument("--backoff-max-s", type=float, default=d.backoff_max_s)
    p.add_argument("--max-attempts", type=int, default=d.max_attempts)
    _metrics_port(p)
    p.set_defaults(func=_dispatcher)
    p = sub.add_parser("train-models", help="fit per-asset multivariate models and state models on the last week now")
    p.set_defaults(func=_train_models)
    p = sub.add_parser("run", help="start services and every process, with the simulator; Ctrl-C stops all")
    p.add_argument("--no-simulate", dest="simulate", action="store_false")
    p.add_argument("--sensors", type=int, default=2000)
    p.add_argument("--speed", type=float, default=1.0, help="simulated seconds per wall second (live demo: 1)")
    p.add_argument(
        "--incidents",
        choices=["demo", "default", "none"],
        default="demo",
        help="demo: one incident of each type in the first half hour",
    )
    p.add_argument("--demo-db", default="resilience_demo", help="database of the demo city (recreated each run)")
    p.add_argument("--keep-services", action="store_true", help="leave PostgreSQL and Mosquitto running")
    p.set_defaults(func=_run)
