"""``resilience detect``: backtest a CSV with the protocol production runs (or a single model, chosen by name).

``--model production`` (default): the live detector's own scoring (:mod:`resilience.detection.protocol`), so a
backtest gives the alarms the detector worker would raise for the same readings: every column given a kind
(``--kind KIND`` or ``--kind COLUMN=KIND``) through its sensor ensemble, and, with normal operation to fit on
(``--train-rows N`` or ``--train FILE``), the asset's state model on one-minute rows with its held alarm,
fitted as the nightly refit fits it. ``--alarms FILE`` writes the alarm spans (start/end) as the detector
stores them. ``--model nab``: the NAB-tuned streaming detector, an in-sample benchmark detector (tuned on the
corpus it is scored on), not what production runs. ``ensemble:<kind>``, ``cva``, ``pca``: one production
model each, on rows as given (no one-minute rows). Every input row is written back in order with
``anomaly_score`` and ``anomaly`` (0/1). Inputs are hostile until parsed: a non-numeric value, an unreadable
time or a bad training file ends the run with exit code 2 and a message naming the row.
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
    parse_kinds,
    parse_model,
    score_ensemble,
    score_multivariate,
    score_nab,
    score_production,
)
from resilience.detection.protocol import AlarmSpan

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


def _training(
    args: argparse.Namespace, rows: list[dict[str, str]], time_col: str, columns: list[str]
) -> tuple[list[dict[str, str]], np.ndarray] | None:
    """The normal-operation rows to fit on (``--train FILE`` or the first ``--train-rows``), None if neither."""
    if args.train:
        header, train_rows = _read_csv(args.train, args.sep)
        missing = [c for c in [*columns, time_col] if c not in header]
        if missing:
            raise ValueError(f"--train file lacks column(s) {', '.join(missing)}")
        return train_rows, read_matrix(train_rows, columns)
    if args.train_rows > 0:
        return rows[: args.train_rows], read_matrix(rows[: args.train_rows], columns)
    return None


def _times(rows: list[dict[str, str]], time_col: str) -> list[datetime]:
    return [parse_time(r.get(time_col) or "", i + 2) for i, r in enumerate(rows)]


def score(
    args: argparse.Namespace, rows: list[dict[str, str]], time_col: str, columns: list[str]
) -> tuple[list[float], list[bool], list[AlarmSpan] | None]:
    """Dispatch on the chosen model; raises ValueError for input it cannot use. Spans only for production."""
    choice: ModelChoice = args.model
    data = read_matrix(rows, columns)
    if choice.name == "production":
        kinds = parse_kinds(args.kind or [], columns)
        train = _training(args, rows, time_col, columns)
        result = score_production(
            _times(rows, time_col),
            data,
            columns,
            kinds,
            None if train is None else (_times(train[0], time_col), train[1]),
        )
        return result.scores, result.flags, result.spans
    if choice.name == "nab":
        return (*score_nab(data, args.threshold), None)
    if choice.name == "ensemble":
        return (*score_ensemble(data, _times(rows, time_col), columns, choice.kind), None)
    assert choice.name in MULTIVARIATE
    train = _training(args, rows, time_col, columns)
    if train is None:
        raise ValueError(f"the {choice.name} model needs normal operation to fit on: --train-rows N or --train FILE")
    return (*score_multivariate(choice.name, data, train[1]), None)


def write_spans(path: str, spans: list[AlarmSpan]) -> None:
    """The alarm spans as the detector stores them (``end`` empty while an alarm is still held)."""
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["anomaly_id", "asset_id", "sensor_id", "detector", "start", "end"])
        for s in spans:
            end = s.end.isoformat() if s.end else ""
            writer.writerow([s.anomaly_id, s.asset_id, s.sensor_id, s.detector, s.start.isoformat(), end])


def run_detect(args: argparse.Namespace) -> int:
    """Backtest one CSV: keep its rows in order, add ``anomaly_score`` and ``anomaly``."""
    if args.alarms and args.model.name != "production":
        print(f"--alarms: only the production model gives alarm spans, not {args.model.label}", file=sys.stderr)
        return 2
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
        scores, flags, spans = score(args, rows, time_col, columns)
    except (OSError, ValueError, csv.Error) as exc:
        print(f"{args.input}: {exc}", file=sys.stderr)
        return 2
    with open(args.output, "w", newline="") as fh:
        writer = csv.writer(fh, delimiter=args.sep)
        writer.writerow(header + ["anomaly_score", "anomaly"])
        for row, s, f in zip(rows, scores, flags, strict=True):
            writer.writerow([row[c] for c in header] + [f"{s:.6f}", int(f)])
    if args.alarms and spans is not None:
        write_spans(args.alarms, spans)
    held = f", {len(spans)} alarm span(s)" if spans is not None else ""
    print(f"{len(rows)} rows, {len(columns)} value column(s), {sum(flags)} anomalous ({args.model.label}{held})")
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
        default=ModelChoice("production"),
        metavar="MODEL",
        help="production (default): the live detector's protocol, what the detector worker raises for these "
        "readings: columns with a --kind through their sensor ensembles, and with --train-rows/--train the "
        "asset's state model on one-minute rows with its held alarm; "
        "nab: an IN-SAMPLE BENCHMARK detector (tuned on the NAB corpus it is scored on, not run in production), "
        "one per column, flags onsets of rare anomalies; ensemble:<kind>: every column as a sensor of that "
        "kind; cva: the state model on rows as given (no one-minute rows); pca: the per-asset T2/Q model "
        "(cva and pca need --train-rows or --train)",
    )
    p.add_argument(
        "--kind",
        action="append",
        metavar="[COLUMN=]KIND",
        help="production: the sensor kind of every column (KIND) or of one (COLUMN=KIND); repeatable",
    )
    p.add_argument("--alarms", default=None, help="production: write the alarm spans (start, end) to this CSV")
    p.add_argument("--train-rows", type=int, default=0, help="fit the state model on the first N rows, score every row")
    p.add_argument("--train", default=None, help="fit the state model on this normal-operation CSV (same columns)")
    p.set_defaults(func=run_detect)
    register_rebaseline(subparsers)


def run_rebaseline(args: argparse.Namespace) -> int:
    """``resilience rebaseline``: accept an asset's new steady state (audited as the shell user)."""
    import getpass

    from resilience.detection.rebaseline import RebaselineRefused, rebaseline
    from resilience.store.db import get_engine

    try:
        done = rebaseline(
            get_engine(), args.asset, requested_by=f"cli:{getpass.getuser()}", reason=args.reason, hours=args.hours
        )
    except RebaselineRefused as exc:
        audited = f" (audit entry {exc.audit_id})" if exc.audit_id is not None else ""
        print(f"{args.asset}: {exc}{audited}", file=sys.stderr)
        return 2
    print(
        f"{done.asset_id}: state model {done.previous_version} -> {done.version}, fitted on {done.n_rows} rows of "
        f"[{done.window_start:%Y-%m-%d %H:%M}, {done.window_end:%Y-%m-%d %H:%M}) UTC (audit entry {done.audit_id}); "
        "the detector takes it over at its next snapshot and the held anomaly closes once the asset reads normal"
    )
    return 0


def register_rebaseline(subparsers: Any) -> None:
    """Add ``rebaseline`` to the ``resilience`` command."""
    from resilience.detection.rebaseline import DEFAULT_HOURS

    p = subparsers.add_parser(
        "rebaseline",
        help="accept an asset's new steady state: refit its state model on recent data (audited), its held "
        "anomaly then closes; refused if that window is itself abnormal",
    )
    p.add_argument("--asset", required=True, help="asset id")
    p.add_argument("--reason", required=True, help="why the new state is normal (kept in the audit trail)")
    p.add_argument(
        "--hours", type=float, default=DEFAULT_HOURS, help="recent window to fit on, up to the newest reading"
    )
    p.set_defaults(func=run_rebaseline)
