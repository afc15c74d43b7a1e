"""``resilience bench city`` at a small size: one run composes every part, and its last line carries each
of issue 23's figures as a number (the goals themselves are the bench's business, not a test's)."""

from __future__ import annotations

import argparse

import pytest

from resilience.bench import register_bench
from resilience.core.settings import Settings

KEYS = [
    "sensors",
    "import_s",
    "detector_rss_mb",
    "snapshot_s",
    "snapshot_bytes",
    "recovery_s",
    "risk_full_ms",
    "risk_30k_full_ms",
    "red_behind_flood_ms",
    "load_1m",
    "load_1m_end",
]


def test_city_bench_last_line_has_every_figure(services: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    register_bench(parser.add_subparsers())
    args = parser.parse_args(["city", "--sensors", "2000", "--risk-assets", "600", "--flood", "200", "--readings", "2"])
    assert args.func(args) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    figures = dict(pair.split("=", 1) for pair in last.split())
    assert list(figures) == KEYS
    assert int(figures["sensors"]) == 2000
    for key in KEYS[1:]:
        assert float(figures[key]) >= 0, key
    assert int(figures["snapshot_bytes"]) > 0
