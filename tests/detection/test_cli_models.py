"""``resilience detect --model``: each production choice by name, every row kept in order with score and flag."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from resilience.cli.main import main


def _pressure_csv(path: Path) -> None:
    rng = np.random.default_rng(3)
    t0 = datetime(2024, 6, 1, tzinfo=UTC)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", "pressure", "note"])
        for i in range(1000):
            v = 0.30 + rng.normal(0, 0.002)
            if 800 <= i < 830:
                v = 0.08  # below the red limit (0.10 MPa) for half an hour
            w.writerow([(t0 + timedelta(minutes=i)).isoformat(), f"{v:.4f}", "x"])


def _flags(path: Path) -> list[int]:
    rows = list(csv.DictReader(path.open()))
    assert all(0.0 <= float(r["anomaly_score"]) <= 1.0 for r in rows)
    return [int(r["anomaly"]) for r in rows]


def test_ensemble_of_a_kind_holds_the_breach_like_production(tmp_path: Path) -> None:
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    _pressure_csv(src)
    assert main(["detect", str(src), "-o", str(out), "--model", "ensemble:water_pressure"]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 1000 and list(rows[0]) == ["timestamp", "pressure", "note", "anomaly_score", "anomaly"]
    assert rows[10]["timestamp"] == "2024-06-01T00:10:00+00:00" and rows[10]["note"] == "x"
    flags = _flags(out)
    assert all(flags[800:830]), "the breach is held open while it lasts"
    assert sum(flags[:800]) == 0
    assert sum(flags[840:]) == 0, "closed after the engine's close hysteresis"


def test_ensemble_choice_is_validated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    _pressure_csv(src)
    with pytest.raises(SystemExit) as exc:
        main(["detect", str(src), "-o", str(out), "--model", "ensemble:plutonium"])
    assert exc.value.code == 2 and "water_pressure" in capsys.readouterr().err
    src.write_text("timestamp,pressure\n2024-06-01T00:00:00,0.3\nyesterday,0.3\n")
    assert main(["detect", str(src), "-o", str(out), "--model", "ensemble:water_pressure"]) == 2
    assert "row 3" in capsys.readouterr().err and not out.exists()
    src.write_text("timestamp,pressure\n0,0.3\n60,inf\n")
    assert main(["detect", str(src), "-o", str(out), "--model", "ensemble:water_pressure"]) == 2
    assert "not a finite number" in capsys.readouterr().err


def test_pca_asset_model_flags_a_broken_relation(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    with src.open("w") as fh:
        fh.write("timestamp,flow,pressure\n")
        for i in range(1200):
            demand = 1.0 + 0.4 * np.sin(2 * np.pi * i / 288) + rng.normal(0, 0.01)
            flow, pressure = 100 * demand, 0.45 - 0.1 * demand + rng.normal(0, 0.002)
            if 1000 <= i < 1050:
                flow *= 3.0  # far more flow without the pressure drop that demand would cause
            fh.write(f"{i * 300},{flow:.3f},{pressure:.5f}\n")
    assert main(["detect", str(src), "-o", str(out), "--model", "pca", "--train-rows", "900"]) == 0
    flags = _flags(out)
    assert len(flags) == 1200
    assert sum(flags[1000:1050]) >= 45
    assert sum(flags[:1000]) <= 10
    assert main(["detect", str(src), "-o", str(out), "--model", "pca"]) == 2


def test_production_default_with_a_kind_raises_what_the_engine_raises(tmp_path: Path) -> None:
    src, out, spans = tmp_path / "in.csv", tmp_path / "out.csv", tmp_path / "spans.csv"
    _pressure_csv(src)
    assert main(["detect", str(src), "-o", str(out), "--kind", "pressure=water_pressure", "--alarms", str(spans)]) == 0
    production = _flags(out)
    assert main(["detect", str(src), "-o", str(out), "--model", "ensemble:water_pressure"]) == 0
    assert production == _flags(out), "one column, no state model: the same engine, the same flags"
    rows = list(csv.DictReader(spans.open()))
    assert rows and all(r["sensor_id"] == "pressure" for r in rows)
    breach = [r for r in rows if r["start"] == "2024-06-01T13:20:00+00:00"]  # row 800
    assert len(breach) == 1 and breach[0]["end"] >= "2024-06-01T13:50:00+00:00"


def test_production_refuses_what_it_cannot_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    _pressure_csv(src)
    assert main(["detect", str(src), "-o", str(out)]) == 2
    assert "needs --kind" in capsys.readouterr().err
    assert main(["detect", str(src), "-o", str(out), "--kind", "nosuch=water_pressure"]) == 2
    assert "no value column 'nosuch'" in capsys.readouterr().err
    assert main(["detect", str(src), "-o", str(out), "--model", "nab", "--alarms", str(tmp_path / "a.csv")]) == 2
    assert "only the production model" in capsys.readouterr().err
    assert main(["detect", str(src), "-o", str(out), "--kind", "water_pressure", "--train-rows", "500"]) == 2
    assert "two or more columns" in capsys.readouterr().err
