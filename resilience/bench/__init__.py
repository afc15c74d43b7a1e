"""Benchmarks: ``resilience bench ...``; each prints its figures last as one line of key=value pairs."""

from __future__ import annotations

import argparse
import importlib

BENCHES = [
    "resilience.bench.ingest_bench",
    "resilience.bench.alerts_bench",
    "resilience.bench.tep_bench",
    "resilience.bench.heldout_bench",
    "resilience.bench.nab.benchmark",
    "resilience.bench.detect_bench",
    "resilience.bench.console_bench",
    "resilience.bench.risk_bench",
    "resilience.bench.silences_bench",
    "resilience.bench.registry_import_bench",
    "resilience.bench.detector_state_bench",
    "resilience.bench.scale_out_bench",
    "resilience.bench.red_flood_bench",
    "resilience.bench.query_bench",
    "resilience.bench.city_bench",
]


def register_bench(bench_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for name in BENCHES:
        try:
            importlib.import_module(name).register(bench_sub)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
