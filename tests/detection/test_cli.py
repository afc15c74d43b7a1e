"""The detect sub-command, called through argparse as the lead's resilience/cli/main.py does."""

from __future__ import annotations

import argparse
import csv

import numpy as np

from resilience.bench.nab import benchmark
from resilience.cli.main import build_parser


def _parser() -> argparse.ArgumentParser:
    return build_parser()


def _run(argv):
    args = _parser().parse_args(argv)
    return args.func(args)


def test_detect_univariate(tmp_path):
    rng = np.random.default_rng(0)
    values = 20 + rng.normal(0, 1, 1500)
    values[1200] = 60
    src = tmp_path / "in.csv"
    with src.open("w") as fh:
        fh.write("timestamp,value\n")
        for i, v in enumerate(values):
            fh.write(f"2024-01-01 00:{i // 60 % 60:02d}:{i % 60:02d},{v:.4f}\n")
    out = tmp_path / "out.csv"
    assert _run(["detect", str(src), "-o", str(out), "--model", "nab"]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 1500 and list(rows[0]) == ["timestamp", "value", "anomaly_score", "anomaly"]
    assert rows[5]["timestamp"] == "2024-01-01 00:00:05"
    flagged = [i for i, r in enumerate(rows) if r["anomaly"] == "1"]
    assert flagged == [1200]
    assert all(0 <= float(r["anomaly_score"]) <= 1 for r in rows)


def test_detect_multivariate_custom_time_column(tmp_path):
    rng = np.random.default_rng(1)
    src = tmp_path / "in.csv"
    with src.open("w") as fh:
        fh.write("time;flow;pressure;site\n")
        for i in range(1000):
            flow = 100 + rng.normal(0, 2)
            pressure = 0.3 + rng.normal(0, 0.002) - (0.1 if i == 800 else 0)
            fh.write(f"{i};{flow:.3f};{pressure:.4f};north\n")
    out = tmp_path / "out.csv"
    assert (
        _run(
            [
                "detect",
                str(src),
                "-o",
                str(out),
                "--time-column",
                "time",
                "--sep",
                ";",
                "--threshold",
                "0.5",
                "--model",
                "nab",
            ]
        )
        == 0
    )
    rows = list(csv.DictReader(out.open(), delimiter=";"))
    assert list(rows[0])[:4] == ["time", "flow", "pressure", "site"] and rows[0]["site"] == "north"
    assert [r["time"] for r in rows[:3]] == ["0", "1", "2"]
    assert [i for i, r in enumerate(rows) if r["anomaly"] == "1"] == [800]


def test_bench_parsers_registered(capsys):
    args = _parser().parse_args(["bench", "nab", "--workers", "1", "--out", "x"])
    assert args.func is benchmark.bench_nab and args.workers == 1
    args = _parser().parse_args(["bench", "detect", "--readings", "600", "--rows", "200"])
    assert args.func(args) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    figures = dict(pair.split("=") for pair in last.split())
    assert set(figures) == {"us_per_reading", "cva_us_per_row", "pca_us_per_row"}
    assert all(float(v) > 0 for v in figures.values())


def _detect_stderr(tmp_path, on_terminal: bool) -> str:  # type: ignore[no-untyped-def]
    """``resilience detect`` as its own process, its stderr a pipe or a pseudo-terminal; what it wrote there."""
    import os
    import subprocess
    import sys

    src = tmp_path / "p.csv"
    rows = "".join(f"2024-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z,{i % 7}\n" for i in range(3000))
    src.write_text("timestamp,value\n" + rows)
    cmd = [sys.executable, "-m", "resilience.cli", "detect", str(src), "-o", str(tmp_path / "o.csv"), "--model", "nab"]
    if not on_terminal:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=True).stderr
    import fcntl
    import struct
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal has a size
    proc = subprocess.Popen(cmd, stderr=slave, stdout=subprocess.DEVNULL)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    assert proc.wait(timeout=300) == 0
    os.close(master)
    return out.decode(errors="replace")


def test_long_detection_shows_progress_on_a_terminal_and_nothing_in_a_pipe(tmp_path):
    assert "it/s" in _detect_stderr(tmp_path, on_terminal=True)
    assert _detect_stderr(tmp_path, on_terminal=False) == ""
