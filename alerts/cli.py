"""``resilience evaluate | alerts | dispatcher | config-check``: the alert service's commands."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from datetime import datetime
from typing import Any

from alerts.channels import build_channels
from alerts.config import ConfigError, load_rules

log = logging.getLogger(__name__)


def _config_check(args: argparse.Namespace) -> int:
    try:
        rules = load_rules(args.rules)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"ok: {len(rules.rules)} rules, {len(rules.receivers)} receivers, {len(rules.routes)} routes, "
          f"{len(rules.escalations)} escalation policies")
    return 0


def _stop_event() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _rules_path(args: argparse.Namespace) -> str | None:
    """``--rules``, else RESILIENCE_ALERTS_RULES (as the API reads it), else the default rules."""
    return args.rules or os.environ.get("RESILIENCE_ALERTS_RULES") or None


def _dispatcher(args: argparse.Namespace) -> int:
    from alerts.dispatcher import Dispatcher, DispatcherOptions
    from resilience.logs import setup_logging
    from resilience.settings import get_settings
    from resilience.store.db import get_engine

    settings = get_settings()
    setup_logging(settings.log_level, settings.log_format, "dispatcher")
    rules = load_rules(_rules_path(args))
    opts = DispatcherOptions(lease_s=args.lease_s, backoff_initial_s=args.backoff_initial_s,
                             backoff_max_s=args.backoff_max_s, max_attempts=args.max_attempts)
    stop = _stop_event()
    log.info("dispatcher running: lease %.0f s, backoff %.1f..%.0f s, %d attempts", opts.lease_s,
             opts.backoff_initial_s, opts.backoff_max_s, opts.max_attempts)
    Dispatcher(get_engine(), build_channels(settings, rules), options=opts).run_forever(stop)
    return 0


def _alerts(args: argparse.Namespace) -> int:
    """The alert service alone: event-log consumer, ticks and dispatcher (the engine process without risk)."""
    from resilience.logs import setup_logging
    from resilience.settings import get_settings
    from resilience.store.db import get_engine
    from resilience.workers.engine_worker import run_engine

    settings = get_settings()
    setup_logging(settings.log_level, settings.log_format, "alerts")
    run_engine(get_engine(), settings, rules_path=_rules_path(args), with_risk=False, tick_s=args.tick_s)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from alerts.evaluate import evaluate, load_truth, summary_line
    from resilience.store.db import get_engine, make_engine

    engine = make_engine(args.database_url) if args.database_url else get_engine()
    with engine.connect() as conn:
        end = datetime.fromisoformat(args.end) if args.end else None
        result = evaluate(conn, load_truth(args.truth), slack_s=args.slack_s, days=args.days, end=end)
    for row in result.pop("per_incident"):
        tta = "missed" if row["tta_s"] is None else f"{row['tta_s']:.0f} s"
        print(f"  {row['incident']} {row['type']:<16} {row['asset'] or '':<10} first alert {tta:>8}, "
              f"alerts {row['alerts']}, firings {row['firings']}, notifications/channel {row['notifications']}")
    for f in result.pop("false"):
        print(f"  false alert {f['alert']} at {f['ts']}: {f['rule']} {f['hazard']} {f['scope']}")
    for k, v in result.items():
        print(f"  {k}: {v}")
    print(summary_line(result))
    return 0


def register(subparsers: Any) -> None:
    from alerts.dispatcher import DispatcherOptions

    p = subparsers.add_parser("config-check", help="validate an alert rule file")
    p.add_argument("--rules", default=None, help="rule file (default: alerts/rules.default.yaml)")
    p.set_defaults(func=_config_check)

    p = subparsers.add_parser("alerts", help="run the alert engine (event log consumer, ticks, dispatcher)")
    p.add_argument("--rules", default=None)
    p.add_argument("--tick-s", type=float, default=10.0)
    p.set_defaults(func=_alerts)

    p = subparsers.add_parser("dispatcher", help="run only the notification dispatcher")
    p.add_argument("--rules", default=None, help="rule file for the SMTP settings (default: RESILIENCE_ALERTS_RULES)")
    d = DispatcherOptions()
    p.add_argument("--lease-s", type=float, default=d.lease_s,
                   help="a claimed message is sent again this long after a dispatcher died holding it")
    p.add_argument("--backoff-initial-s", type=float, default=d.backoff_initial_s)
    p.add_argument("--backoff-max-s", type=float, default=d.backoff_max_s)
    p.add_argument("--max-attempts", type=int, default=d.max_attempts)
    p.set_defaults(func=_dispatcher)

    p = subparsers.add_parser("evaluate", help="score stored alerts against a simulator's ground truth")
    p.add_argument("--truth", required=True, help="ground-truth JSON (list of incidents)")
    p.add_argument("--slack-s", type=float, default=600.0, help="match window around each incident")
    p.add_argument("--days", type=float, default=None, help="simulated days (default: span of the data)")
    p.add_argument("--end", default=None, help="ISO time the simulated data ended; later alerts are not scored")
    p.add_argument("--database-url", default=None)
    p.set_defaults(func=_evaluate)
