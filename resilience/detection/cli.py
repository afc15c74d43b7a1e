"""``resilience detect``: backtest a CSV with a model production (or the benchmark) runs, chosen by name.

``--model nab`` (default): the NAB-tuned streaming detector, one per column, for onsets of rare anomalies in
unlabelled series of unknown kind. ``--model ensemble:<kind>``: each column through the production engine as
a sensor of that kind (graded limits, rates, seasonal baseline, CUSUM, the engine's open/close hysteresis).
``--model cva`` / ``pca``: the per-asset multivariate models, fitted on normal operation first
(``--train-rows N`` or ``--train FILE``). Every input row is written back in order with ``anomaly_score`` and
``anomaly`` (0/1). Inputs are hostile until parsed: a non-numeric value, an unreadable time or a bad training
file ends the run with exit code 2 and a message naming the row.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from resilience.detection.csv_models import (
    MULTIVARIATE,
    ModelChoice,
    parse_model,
    score_ensemble,
    score_multivariate,
    score_nab,
)

#: Row count above which a CSV is refused (the whole file is held in memory).
MAX_ROWS = 5_000_000


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def parse_time(text: str, row: int) -> datetime:
    """Epoch seconds or ISO 8601 (naive = UTC); anything else is refused with its row number."""
    text = text.strip()
    try:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=float(text))
    except (ValueError, OverflowError):
        pass
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"row {row}: time {text[:40]!r} is neither epoch seconds nor ISO 8601") from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def read_matrix(rows: list[dict[str, str]], columns: list[str]) -> np.ndarray:
    """The value columns as floats (NaN where empty or NaN); an infinite value is refused."""
    m = np.full((len(rows), len(columns)), math.nan)
    for i, row in enumerate(rows):
        for j, c in enumerate(columns):
            text = (row.get(c) or "").strip()
            if text:
                v = float(text)
                if math.isinf(v):
                    raise ValueError(f"row {i + 2}: column {c!r} is not a finite number ({text[:20]!r})")
                m[i, j] = v  # NaN stays a gap
    return m


def _read_csv(path: str, sep: str) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh, delimiter=sep)
        header = list(reader.fieldnames or [])
        rows: list[dict[str, str]] = []
        for row in reader:
            if len(rows) >= MAX_ROWS:
                raise ValueError(f"more than {MAX_ROWS} rows")
            rows.append(row)
    return header, rows


def _training_matrix(args: argparse.Namespace, data: np.ndarray, columns: list[str]) -> np.ndarray:
    if args.train:
        header, train_rows = _read_csv(args.train, args.sep)
        missing = [c for c in columns if c not in header]
        if missing:
            raise ValueError(f"--train file lacks column(s) {', '.join(missing)}")
        return read_matrix(train_rows, columns)
    if args.train_rows > 0:
        return data[: args.train_rows]
    raise ValueError(f"the {args.model.name} model needs normal operation to fit on: --train-rows N or --train FILE")


def score(
    args: argparse.Namespace, rows: list[dict[str, str]], time_col: str, columns: list[str]
) -> tuple[list[float], list[bool]]:
    """Dispatch on the chosen model; raises ValueError for input it cannot use."""
    choice: ModelChoice = args.model
    data = read_matrix(rows, columns)
    if choice.name == "nab":
        return score_nab(data, args.threshold)
    if choice.name == "ensemble":
        times = [parse_time(r.get(time_col) or "", i + 2) for i, r in enumerate(rows)]
        return score_ensemble(data, times, columns, choice.kind)
    assert choice.name in MULTIVARIATE
    return score_multivariate(choice.name, data, _training_matrix(args, data, columns))


def run_detect(args: argparse.Namespace) -> int:
    """Backtest one CSV: keep its rows in order, add ``anomaly_score`` and ``anomaly``."""
    try:
        header, rows = _read_csv(args.input, args.sep)
    except (OSError, ValueError, csv.Error) as exc:
        print(f"{args.input}: {exc}", file=sys.stderr)
        return 2
    if not header:
        print(f"{args.input}: empty file", file=sys.stderr)
        return 2
    time_col = args.time_column or ("timestamp" if "timestamp" in header else header[0])
    if time_col not in header:
        print(f"{args.input}: no time column {time_col!r} (columns: {', '.join(header)})", file=sys.stderr)
        return 2
    columns = [
        c
        for c in header
        if c != time_col
        and c not in ("anomaly_score", "anomaly")
        and all(_is_number(r[c]) for r in rows if (r.get(c) or "").strip())
        and any((r.get(c) or "").strip() for r in rows)
    ]
    if not columns:
        print(f"{args.input}: no numeric value column", file=sys.stderr)
        return 2
    try:
        scores, flags = score(args, rows, time_col, columns)
    except (OSError, ValueError, csv.Error) as exc:
        print(f"{args.input}: {exc}", file=sys.stderr)
        return 2
    with open(args.output, "w", newline="") as fh:
        writer = csv.writer(fh, delimiter=args.sep)
        writer.writerow(header + ["anomaly_score", "anomaly"])
        for row, s, f in zip(rows, scores, flags, strict=True):
            writer.writerow([row[c] for c in header] + [f"{s:.6f}", int(f)])
    print(f"{len(rows)} rows, {len(columns)} value column(s), {sum(flags)} anomalous ({args.model.label})")
    return 0


def _model_arg(text: str) -> ModelChoice:
    try:
        return parse_model(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(subparsers: Any) -> None:
    """Add ``detect`` to the ``resilience`` command."""
    p = subparsers.add_parser("detect", help="backtest: score a CSV (timestamp,value or several numeric columns)")
    p.add_argument("input", help="input CSV")
    p.add_argument("-o", "--output", required=True, help="output CSV (input rows + anomaly_score, anomaly)")
    p.add_argument("--time-column", default=None, help="time column (default: 'timestamp', else the first)")
    p.add_argument("--sep", default=",", help="field separator")
    p.add_argument("--threshold", type=float, default=0.5, help="anomaly_score at which anomaly=1 (nab)")
    p.add_argument(
        "--model",
        type=_model_arg,
        default=ModelChoice("nab"),
        metavar="MODEL",
        help="nab (default): one NAB-tuned streaming detector per column, flags onsets of rare "
        "anomalies; ensemble:<kind>: every column as a production sensor of that kind "
        "(times: epoch seconds or ISO 8601), anomaly = the engine holds an anomaly open; "
        "cva: the per-asset multivariate state model whose alarm holds while a fault state "
        "lasts; pca: the per-asset T2/Q model (cva and pca need --train-rows or --train)",
    )
    p.add_argument("--train-rows", type=int, default=0, help="cva/pca: fit on the first N rows, then score every row")
    p.add_argument("--train", default=None, help="cva/pca: fit on this normal-operation CSV (same columns)")
    p.set_defaults(func=run_detect)
