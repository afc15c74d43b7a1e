"""Command-line entry points: ``resilience detect`` (backtest a CSV), ``resilience bench nab|detect``.

Backtests and benchmarks run the same :class:`~resilience.detection.nab.NabDetector` that production
can use, learning online from the first row, with no labels and no lookahead.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from multiprocessing import Pool
from pathlib import Path
from typing import Any

from resilience.detection.nab import NabDetector

#: Significant digits of scores in NAB result files. The scorer sweeps every distinct score as a threshold,
#: so rounding would merge scores; 17 digits round-trip a float exactly.
NAB_SCORE_DIGITS = 17

#: NAB README scoreboard (v1.0), standard / reward-low-FP / reward-low-FN.
PUBLISHED = [
    ("ARTime", 74.9, 65.1, 80.4),
    ("Numenta HTM (NuPIC 1.0)", 70.5, 62.6, 75.2),
    ("CAD OSE", 69.9, 67.0, 73.2),
    ("earthgecko Skyline", 58.2, 46.2, 63.9),
    ("KNN CAD", 58.0, 43.4, 64.8),
    ("Windowed Gaussian", 39.6, 20.9, 47.4),
]


def default_nab_dir() -> Path:
    """``$RESILIENCE_NAB_DIR``, else ``shared/benchmarks/nab`` next to the repository."""
    env = os.environ.get("RESILIENCE_NAB_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "benchmarks" / "nab"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def score_columns(rows: list[dict[str, str]], columns: list[str]) -> list[float]:
    """One NabDetector per column, learning online; a row's score is the largest column score."""
    detectors = {c: NabDetector() for c in columns}
    out: list[float] = []
    for i, row in enumerate(rows):
        best = 0.0
        for c in columns:
            text = (row.get(c) or "").strip()
            if not text:
                continue
            v = float(text)
            if math.isnan(v):
                continue
            best = max(best, detectors[c].process_one(v, float(i)))
        out.append(best)
    return out


def run_detect(args: argparse.Namespace) -> int:
    """Backtest one CSV: keep its rows in order, add ``anomaly_score`` and ``anomaly``."""
    with open(args.input, newline="") as fh:
        reader = csv.DictReader(fh, delimiter=args.sep)
        header = list(reader.fieldnames or [])
        rows = list(reader)
    if not header:
        print(f"{args.input}: empty file", file=sys.stderr)
        return 2
    time_col = args.time_column or ("timestamp" if "timestamp" in header else header[0])
    if time_col not in header:
        print(f"{args.input}: no time column {time_col!r} (columns: {', '.join(header)})", file=sys.stderr)
        return 2
    columns = [c for c in header if c != time_col and c not in ("anomaly_score", "anomaly")
               and all(_is_number(r[c]) for r in rows if (r.get(c) or "").strip())
               and any((r.get(c) or "").strip() for r in rows)]
    if not columns:
        print(f"{args.input}: no numeric value column", file=sys.stderr)
        return 2
    if args.model == "cva":
        try:
            scores, flags = score_state_model(rows, columns, args)
        except ValueError as exc:
            print(f"{args.input}: {exc}", file=sys.stderr)
            return 2
    else:
        scores = score_columns(rows, columns)
        flags = [s >= args.threshold for s in scores]
    with open(args.output, "w", newline="") as fh:
        writer = csv.writer(fh, delimiter=args.sep)
        writer.writerow(header + ["anomaly_score", "anomaly"])
        for row, s, f in zip(rows, scores, flags):
            writer.writerow([row[c] for c in header] + [f"{s:.6f}", int(f)])
    print(f"{len(rows)} rows, {len(columns)} value column(s), {sum(flags)} anomalous ({args.model})")
    return 0


def _matrix(rows: list[dict[str, str]], columns: list[str]) -> Any:
    import numpy as np

    def value(row: dict[str, str], c: str) -> float:
        text = (row.get(c) or "").strip()
        return float(text) if text else math.nan
    m = np.array([[value(r, c) for c in columns] for r in rows], dtype=float)
    if np.isnan(m).any():  # a gap holds the column's previous value (no look-ahead)
        for j in range(m.shape[1]):
            for i in range(m.shape[0]):
                if math.isnan(m[i, j]):
                    m[i, j] = m[i - 1, j] if i else 0.0
    return m


def score_state_model(rows: list[dict[str, str]], columns: list[str], args: argparse.Namespace,
                      ) -> tuple[list[float], list[bool]]:
    """The held-alarm CVA state model: fitted on normal operation (the first ``--train-rows`` rows, or the rows
    of ``--train FILE``), then every row of the input scored in order; ``anomaly`` is the held alarm."""
    from resilience.detection.state_models import CanonicalVariateStateModel

    data = _matrix(rows, columns)
    if args.train:
        with open(args.train, newline="") as fh:
            train_rows = list(csv.DictReader(fh, delimiter=args.sep))
        missing = [c for c in columns if train_rows and c not in train_rows[0]]
        if missing:
            raise ValueError(f"--train file lacks column(s) {', '.join(missing)}")
        train = _matrix(train_rows, columns)
    elif args.train_rows:
        train = data[: args.train_rows]
    else:
        raise ValueError("the cva model needs normal operation to fit on: --train-rows N or --train FILE")
    past = 3
    # the state keeps at most half the lagged dimensions, so residual variates remain to watch
    model = CanonicalVariateStateModel(past=past, n_states=max(1, min(30, len(columns) * past // 2)))
    model.fit(train)
    ratio = model.ratio(data)
    return [float(r / (1.0 + r)) for r in ratio], [bool(f) for f in model.predict(data)]


# -- NAB benchmark ---------------------------------------------------------------------------------
def _nab_one(job: tuple[str, str, str]) -> str:
    data_dir, rel, out_dir = job
    with open(os.path.join(data_dir, rel), newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        rows = [(r[0], r[1]) for r in reader]
    det = NabDetector()
    path = os.path.join(out_dir, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="") as fh:
        fh.write("timestamp,value,anomaly_score\n")
        for i, (ts, value) in enumerate(rows):
            s = det.process_one(float(value), float(i))
            fh.write(f"{ts},{value},{s:.{NAB_SCORE_DIGITS}g}\n")
    return rel


def run_nab(data: Path, out: Path, workers: int) -> dict[str, float]:
    """Write result CSVs for every labelled file, score them with the shared ``nab_score.py``."""
    windows = json.loads((data / "labels" / "combined_windows.json").read_text())
    jobs = [(str(data / "data"), rel, str(out)) for rel in sorted(windows)]
    if workers > 1:
        with Pool(workers) as pool:
            list(pool.imap_unordered(_nab_one, jobs))
    else:
        for job in jobs:
            _nab_one(job)
    report = out / "scores.json"
    proc = subprocess.run([sys.executable, str(data / "nab_score.py"), str(out), "--json", str(report),
                           "--data-dir", str(data / "data"),
                           "--windows", str(data / "labels" / "combined_windows.json")],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"nab_score.py failed: {proc.stderr.strip() or proc.stdout.strip()}")
    print(proc.stdout.rstrip())
    result = json.loads(report.read_text())
    return {name: float(result[name]["normalised"]) for name in
            ("standard", "reward_low_FP_rate", "reward_low_FN_rate")}


def bench_nab(args: argparse.Namespace) -> int:
    data = Path(args.data) if args.data else default_nab_dir()
    if not (data / "nab_score.py").is_file():
        print(f"NAB benchmark not found at {data} (use --data or RESILIENCE_NAB_DIR)", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="nab-results-"))
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    scores = run_nab(data, out, args.workers)
    seconds = time.perf_counter() - t0
    ours = (scores["standard"], scores["reward_low_FP_rate"], scores["reward_low_FN_rate"])
    print(f"\nresults in {out}; scores written with {NAB_SCORE_DIGITS} significant digits")
    print(f"{'detector':<28}{'standard':>10}{'low_FP':>10}{'low_FN':>10}")
    print(f"{'resilience NabDetector':<28}{ours[0]:>10.1f}{ours[1]:>10.1f}{ours[2]:>10.1f}")
    for name, *vals in PUBLISHED:
        print(f"{name:<28}{vals[0]:>10.1f}{vals[1]:>10.1f}{vals[2]:>10.1f}")
    print(f"nab_standard={ours[0]:.2f} nab_low_fp={ours[1]:.2f} nab_low_fn={ours[2]:.2f} seconds={seconds:.1f}")
    return 0


def bench_detect(args: argparse.Namespace) -> int:
    """Streaming cost of the production default ensembles, in µs per reading through the engine."""
    from resilience.detection.engine import DetectionEngine
    from resilience.domain import Reading
    from resilience.events import InMemoryEventBus

    class _Sensor:
        def __init__(self, sid: str, kind: str) -> None:
            self.sensor_id, self.asset_id, self.kind = sid, "bench-asset", kind
            self.thresholds: dict[str, float] | None = None
            self.expected_interval_s = 60.0

    kinds = ["methane", "water_pressure", "water_flow", "drainage_level", "strain", "tilt"]
    catalogue = {f"s{i}": _Sensor(f"s{i}", k) for i, k in enumerate(kinds)}
    engine = DetectionEngine(catalogue, InMemoryEventBus())
    t0 = datetime(2024, 1, 1)
    readings = []
    for step in range(args.readings // len(kinds)):
        ts = t0 + timedelta(minutes=step)
        daily = math.sin(2 * math.pi * step / 1440)
        for i, k in enumerate(kinds):
            base = {"methane": 1.0, "water_pressure": 0.3, "drainage_level": 40.0}.get(k, 10.0)
            readings.append(Reading(f"s{i}", ts, base * (1 + 0.1 * daily) + 0.001 * ((step * 7 + i) % 11)))
    start = time.perf_counter()
    engine.process(readings)
    us = (time.perf_counter() - start) / len(readings) * 1e6
    print(f"{len(readings)} readings over {len(kinds)} default ensembles ({', '.join(kinds)})")
    print(f"us_per_reading={us:.1f}")
    return 0


def register(subparsers: Any) -> None:
    """Add ``detect`` to the ``resilience`` command."""
    p = subparsers.add_parser("detect", help="backtest: score a CSV (timestamp,value or several numeric columns)")
    p.add_argument("input", help="input CSV")
    p.add_argument("-o", "--output", required=True, help="output CSV (input rows + anomaly_score, anomaly)")
    p.add_argument("--time-column", default=None, help="time column (default: 'timestamp', else the first)")
    p.add_argument("--sep", default=",", help="field separator")
    p.add_argument("--threshold", type=float, default=0.5, help="anomaly_score at which anomaly=1 (nab)")
    p.add_argument("--model", choices=["nab", "cva"], default="nab",
                   help="nab: one NAB-tuned streaming detector per column, flags onsets of rare anomalies; "
                        "cva: a multivariate state model fitted on normal operation whose alarm holds while a "
                        "fault state lasts (needs --train-rows or --train)")
    p.add_argument("--train-rows", type=int, default=0, help="cva: fit on the first N rows, then score every row")
    p.add_argument("--train", default=None, help="cva: fit on this normal-operation CSV (same columns)")
    p.set_defaults(func=run_detect)


def register_bench(bench_subparsers: Any) -> None:
    """Add ``bench nab`` and ``bench detect`` to ``resilience bench``."""
    p = bench_subparsers.add_parser("nab", help="Numenta Anomaly Benchmark with the shared scorer")
    p.add_argument("--data", default=None, help="NAB folder with data/, labels/, nab_score.py")
    p.add_argument("--out", default=None, help="where result CSVs go (default: a new temp folder)")
    p.add_argument("--workers", type=int, default=2)
    p.set_defaults(func=bench_nab)
    d = bench_subparsers.add_parser("detect", help="per-reading cost of the default detection ensembles")
    d.add_argument("--readings", type=int, default=60000)
    d.set_defaults(func=bench_detect)
