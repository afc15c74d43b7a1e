"""``resilience config-check | evaluate``: the alert rules' check and the scoring of alerts against ground truth.

The alert service's own processes (``resilience alerts``, ``resilience dispatcher``) are in
``resilience/cli/commands.py`` with the other services.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from datetime import datetime
from typing import Any

from alerts.config import ConfigError, load_rules

log = logging.getLogger(__name__)


def _config_check(args: argparse.Namespace) -> int:
    try:
        rules = load_rules(args.rules)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(
        f"ok: {len(rules.rules)} rules, {len(rules.receivers)} receivers, {len(rules.routes)} routes, "
        f"{len(rules.escalations)} escalation policies"
    )
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from alerts.evaluate import evaluate, load_truth, summary_line, wait_drained
    from alerts.evaluate_truth import load_staleness
    from resilience.store.db import get_engine, make_engine

    engine = make_engine(args.database_url) if args.database_url else get_engine()
    if args.wait_drained:
        t0 = time.monotonic()
        left = wait_drained(engine, args.wait_drained)
        pending = ", ".join(f"{c} {n}" for c, n in left.items() if n) or "none"
        print(f"drained after {time.monotonic() - t0:.0f} s (still to consume: {pending})", flush=True)
    with engine.connect() as conn:
        end = datetime.fromisoformat(args.end) if args.end else None
        staleness = load_staleness(args.operator_samples)
        result = evaluate(
            conn, load_truth(args.truth), slack_s=args.slack_s, days=args.days, end=end, staleness=staleness
        )
    for row in result.pop("per_incident"):
        tta = "missed" if row["tta_s"] is None else f"{row['tta_s']:.0f} s"
        print(
            f"  {row['incident']} {row['type']:<16} {row['asset'] or '':<10} first alert {tta:>8}, "
            f"alerts {row['alerts']}, firings {row['firings']}, notifications/channel {row['notifications']}"
        )
    for f in result.pop("false"):
        print(f"  false alert {f['alert']} at {f['ts']}: {f['rule']} {f['hazard']} {f['scope']}")
    for r in result.pop("resolved_while_active_list"):
        print(f"  resolved while active, never re-opened: alert {r['alert']} of {r['incident']} at {r['resolved_at']}")
    for k, v in result.items():
        print(f"  {k}: {v}")
    print(summary_line(result))
    return 0


def _operator(args: argparse.Namespace) -> int:
    import signal
    import threading
    from pathlib import Path

    from alerts.evaluate_operator import run_operator
    from resilience.store.db import get_engine, make_engine

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")  # what it resolved, when
    engine = make_engine(args.database_url) if args.database_url else get_engine()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"operator running: resolves alerts {args.after_s:.0f} s (data time) after they fire", flush=True)
    run_operator(engine, load_rules(args.rules), Path(args.samples), stop, after_s=args.after_s)
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("config-check", help="validate an alert rule file")
    p.add_argument("--rules", default=None, help="rule file (default: alerts/rules.default.yaml)")
    p.set_defaults(func=_config_check)

    p = subparsers.add_parser("evaluate", help="score stored alerts against a simulator's ground truth")
    p.add_argument("--truth", required=True, help="ground-truth JSON (list of incidents)")
    p.add_argument("--slack-s", type=float, default=600.0, help="match window around each incident")
    p.add_argument("--days", type=float, default=None, help="simulated days (default: span of the data)")
    p.add_argument("--end", default=None, help="ISO time the simulated data ended; later alerts are not scored")
    p.add_argument("--database-url", default=None)
    p.add_argument(
        "--wait-drained",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="first wait (at most this long) until detection, risk and alerts have consumed everything stored",
    )
    p.add_argument("--operator-samples", default=None, help="evaluate-operator's staleness samples (JSON lines)")
    p.set_defaults(func=_evaluate)

    p = subparsers.add_parser(
        "evaluate-operator", help="for evaluations: resolve every alert a while (data time) after it fires"
    )
    p.add_argument("--after-s", type=float, default=120.0, help="simulated seconds after firing to resolve")
    p.add_argument("--samples", required=True, help="file to append value-staleness samples to (JSON lines)")
    p.add_argument("--rules", default=None, help="rule file (default: alerts/rules.default.yaml)")
    p.add_argument("--database-url", default=None)
    p.set_defaults(func=_operator)
