"""``resilience backtest --sensor ID --start --end``: replay stored history through the production ensemble.

Engineers try a detector configuration (``--override`` JSON, the same shape as ``sensors.detector_overrides``)
on real history before switching it on. The replay uses the sensor's kind defaults, its graded thresholds
and its stored override unless one is given, learning online from the start of the range like production.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from resilience.detection.ensemble import SensorEnsemble, resolve_config
from resilience.core.domain import Level
from resilience.core.logs import progress
from resilience.store import registry
from resilience.store.db import Connection
from resilience.store.readings import sensor_window


@dataclass
class Episode:
    start: datetime
    end: datetime
    peak: float
    level: Level
    detector: str
    explanation: str


def replay(
    conn: Connection, *, sensor_id: str, start: datetime, end: datetime, override: dict[str, Any] | None = None
) -> tuple[list[dict[str, Any]], list[Episode]]:
    """Per-reading scores and the anomaly episodes (score over the configured threshold or a graded level)."""
    sensor = registry.get(conn, table="sensors", id=sensor_id)
    cfg = resolve_config(
        sensor["kind"], sensor["thresholds"], override if override is not None else sensor["detector_overrides"]
    )
    ens = SensorEnsemble(cfg, kind=sensor["kind"], unit=sensor["unit"])
    rows = sensor_window(conn, sensor_id=sensor_id, start=start, end=end)
    out: list[dict[str, Any]] = []
    episodes: list[Episode] = []
    current: Episode | None = None
    for r in progress(rows, total=len(rows), what=f"backtest {sensor_id}"):
        res = ens.process_one(r.value, r.ts, learn=not (r.quality & 2))
        firing = res.score >= cfg.threshold or res.level > Level.NONE
        out.append(
            {
                "timestamp": r.ts.isoformat(),
                "value": r.value,
                "anomaly_score": round(res.score, 6),
                "level": res.level.label,
                "anomaly": int(firing),
                "detector": res.detector if firing else "",
            }
        )
        if firing:
            if current is None:
                current = Episode(r.ts, r.ts, res.score, res.level, res.detector, res.explanation)
                episodes.append(current)
            current.end = r.ts
            if res.score > current.peak or res.level > current.level:
                current.peak, current.level = max(current.peak, res.score), max(current.level, res.level)
                current.explanation = res.explanation or current.explanation
        elif res.score < cfg.close_threshold:
            current = None
    return out, episodes


def _parse_time(value: str) -> datetime:
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _cmd(args: argparse.Namespace) -> int:
    from resilience.store.db import get_engine

    override = json.loads(args.override) if args.override else None
    with get_engine().connect() as conn:
        try:
            rows, episodes = replay(
                conn, sensor_id=args.sensor, start=_parse_time(args.start), end=_parse_time(args.end), override=override
            )
        except registry.NotFound as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if args.output:
        with open(args.output, "w", newline="") as fh:
            writer = csv.DictWriter(
                fh, fieldnames=["timestamp", "value", "anomaly_score", "level", "anomaly", "detector"]
            )
            writer.writeheader()
            writer.writerows(rows)
    for e in episodes:
        print(
            f"{e.start.isoformat()} .. {e.end.isoformat()}  peak {e.peak:.2f}  {e.level.label:<6} {e.detector}: "
            f"{e.explanation}"
        )
    print(f"readings={len(rows)} anomalous={sum(r['anomaly'] for r in rows)} episodes={len(episodes)}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("backtest", help="replay a sensor's stored history through the production detectors")
    p.add_argument("--sensor", required=True)
    p.add_argument("--start", required=True, help="RFC 3339")
    p.add_argument("--end", required=True, help="RFC 3339")
    p.add_argument("--override", help="detector override JSON, e.g. '{\"threshold\": 0.7}'")
    p.add_argument("-o", "--output", help="write per-reading scores as CSV")
    p.set_defaults(func=_cmd)
