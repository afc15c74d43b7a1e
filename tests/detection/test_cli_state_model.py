"""``resilience detect --model cva``: fitted on normal rows, the alarm holds while a fault state lasts."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np


def _write(path: Path, x: np.ndarray) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["timestamp", "a", "b", "c", "d"])
        for i, r in enumerate(x):
            w.writerow([i, *[f"{v:.4f}" for v in r]])


def _process(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mix = np.random.default_rng(0).normal(size=(4, 4)) * 0.3  # the same plant in every run
    x = np.zeros((n, 4))
    for t in range(1, n):
        x[t] = 0.6 * x[t - 1] + rng.normal(size=4) @ mix + rng.normal(size=4) * 0.5
    return x


def _detect(tmp_path: Path, *args: str) -> tuple[int, list[int], str]:
    out = tmp_path / "out.csv"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "resilience.cli",
            "detect",
            str(tmp_path / "in.csv"),
            "-o",
            str(out),
            "--model",
            "cva",
            *args,
        ],
        capture_output=True,
        text=True,
    )
    flags = [int(row["anomaly"]) for row in csv.DictReader(out.open())] if r.returncode == 0 else []
    return r.returncode, flags, r.stderr


def test_cva_alarm_holds_through_a_sustained_fault(tmp_path: Path) -> None:
    x = _process(1500, 1)
    x[1000:1300, 1] += 5.0  # a sensor bias that starts and persists, then ends
    _write(tmp_path / "in.csv", x)
    rc, flags, err = _detect(tmp_path, "--train-rows", "800")
    assert rc == 0, err
    assert len(flags) == 1500
    assert sum(flags[:1000]) / 1000 < 0.1
    assert sum(flags[1010:1300]) / 290 > 0.8
    assert sum(flags[1350:]) / 150 < 0.3  # cleared after the fault


def test_cva_from_a_separate_training_file_and_without_one(tmp_path: Path) -> None:
    x = _process(600, 2)
    x[300:, 2] -= 3.0
    _write(tmp_path / "in.csv", x)
    _write(tmp_path / "train.csv", _process(800, 3))
    rc, flags, err = _detect(tmp_path, "--train", str(tmp_path / "train.csv"))
    assert rc == 0, err
    assert sum(flags[310:]) / 290 > 0.8
    rc, _, err = _detect(tmp_path)
    assert rc == 2 and "--train-rows N or --train FILE" in err
