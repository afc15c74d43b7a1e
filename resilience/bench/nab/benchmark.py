"""``resilience bench nab``: the Numenta Anomaly Benchmark, scored by the shared ``nab_score.py``.

Each labelled file is run through a fresh :class:`~resilience.bench.nab.NabDetector`, learning online from the
first row, with no labels and no look-ahead; the result CSVs are then scored by the benchmark's own scorer.

The figures are IN-SAMPLE: the NabDetector's parameters were tuned on this same corpus and scorer, so they
measure how well it fits NAB, not how it does on data it has not seen (``resilience bench heldout`` does that
for the production detector). The detector is a benchmark tool (``resilience detect --model nab``), not what
production runs.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path
from typing import Any

from resilience.bench.nab.detector import NabDetector

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
    return Path(__file__).resolve().parents[3].parent / "shared" / "benchmarks" / "nab"


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
    proc = subprocess.run(
        [
            sys.executable,
            str(data / "nab_score.py"),
            str(out),
            "--json",
            str(report),
            "--data-dir",
            str(data / "data"),
            "--windows",
            str(data / "labels" / "combined_windows.json"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"nab_score.py failed: {proc.stderr.strip() or proc.stdout.strip()}")
    print(proc.stdout.rstrip())
    result = json.loads(report.read_text())
    return {
        name: float(result[name]["normalised"]) for name in ("standard", "reward_low_FP_rate", "reward_low_FN_rate")
    }


def bench_nab(args: argparse.Namespace) -> int:
    """Run every labelled NAB file, print our scores beside the published scoreboard; last line key=value."""
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
    print(
        "in-sample: the NabDetector was tuned on this corpus with this scorer; its figures are not held-out, "
        "and it is not the production detector"
    )
    print(
        f"nab_standard={ours[0]:.2f} nab_low_fp={ours[1]:.2f} nab_low_fn={ours[2]:.2f} in_sample=1 "
        f"seconds={seconds:.1f}"
    )
    return 0


def register(bench_subparsers: Any) -> None:
    """Add ``bench nab`` to ``resilience bench``."""
    p = bench_subparsers.add_parser(
        "nab", help="Numenta Anomaly Benchmark with the shared scorer (in-sample: the detector was tuned on it)"
    )
    p.add_argument("--data", default=None, help="NAB folder with data/, labels/, nab_score.py")
    p.add_argument("--out", default=None, help="where result CSVs go (default: a new temp folder)")
    p.add_argument("--workers", type=int, default=2)
    p.set_defaults(func=bench_nab)
