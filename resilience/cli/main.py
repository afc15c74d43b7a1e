"""The ``resilience`` command: one entry point, one sub-command per service or tool.

Each feature module contributes its sub-commands through a ``register(subparsers)`` function listed in
``COMMAND_MODULES``, so this file stays small and features stay self-contained.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = [
    "resilience.ops.local_services",
    "resilience.ops.broker_accounts",
    "resilience.cli.keys",
    "resilience.cli.commands",
    "resilience.cli.backtest",
    "resilience.detection.cli",
    "resilience.simulator.cli",
    "alerts.cli",
    "resilience.bench",
]


def build_parser(with_benches: bool = True) -> argparse.ArgumentParser:
    """The whole command line; ``with_benches=False`` leaves the benchmarks' sub-commands out, so a service's
    start-up does not import what every benchmark needs (scikit-learn, the simulator, the NAB detector)."""
    parser = argparse.ArgumentParser(prog="resilience", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    bench = sub.add_parser("bench", help="benchmarks; each prints its figures last as key=value pairs")
    bench_sub = bench.add_subparsers(dest="bench", required=True, metavar="BENCH")
    for name in COMMAND_MODULES:
        if name == "resilience.bench" and not with_benches:
            continue
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a feature package not built yet must not break the others
            if exc.name and name.startswith(exc.name):
                continue
            raise
        if hasattr(module, "register"):
            module.register(sub)
        if hasattr(module, "register_bench"):
            module.register_bench(bench_sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    parser = build_parser(with_benches=not words or words[0] in ("bench", "-h", "--help"))
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except Exception as exc:
        from resilience.store.db import database_problem

        problem = database_problem(exc)
        if problem is None:
            raise
        print(f"error: {problem}", file=sys.stderr)
        return 1
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
