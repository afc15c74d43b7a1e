"""The ``simulate`` sub-command registers itself and runs headless (dry run) to a ground-truth file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from resilience.simulator.cli import register


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    return parser


def test_defaults() -> None:
    args = _parser().parse_args(["simulate"])
    assert args.sensors == 10_000 and args.speed == 1.0 and args.seed == 42 and args.duration is None
    assert args.incidents == "default" and not args.seed_db and callable(args.func)


@pytest.mark.slow  # a simulated day of 300 sensors
def test_dry_run_writes_truth(tmp_path: Path, capsys) -> None:
    truth = tmp_path / "truth.json"
    args = _parser().parse_args(
        [
            "simulate",
            "--dry-run",
            "--speed",
            "0",
            "--tick",
            "300",
            "--duration",
            "86400",
            "--sensors",
            "300",
            "--start",
            "2024-07-01T00:00:00Z",
            "--truth",
            str(truth),
        ]
    )
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "incident INC-" in out and "done:" in out
    data = json.loads(truth.read_text())
    assert data and all(r["start"].startswith("2024-07-01") for r in data)
