"""``resilience bench red-flood``: how long a red alert takes to reach its webhook behind a flood.

A flood of low-level anomalies (``--flood``, 1,000 by default: blue drainage readings, each its own sensor)
is queued in the event log, then one red gas anomaly. The production alert consumer (the engine's batch
handler, its priority lane) and dispatcher run in this process against a throwaway database; a webhook
receiver here timestamps the red's arrival. The same run measures strict log order (lane off) as the
reference figure, so a noisy machine shows in both.

Last line: ``red_behind_flood_ms=… strict_order_ms=… flood=… load_1m=…``.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

from alerts.channels.webhook import WebhookChannel
from alerts.config import DEFAULT_RULES_PATH, RulesConfig, parse_rules
from alerts.consumer import AlertEngine
from alerts.dispatcher import Dispatcher
from resilience.bench.webhook_receiver import WebhookReceiver
from resilience.core.domain import Level
from resilience.core.events import AnomalyEvent, AnomalyPhase, EventKind
from resilience.store.db import Engine, make_engine, recreate_database
from resilience.store.eventlog import EventConsumer, PgEventLog
from resilience.store.registry import insert_many

SECRET = "bench-red-flood"
ALERT_KINDS = {EventKind.ANOMALY, EventKind.SENSOR_HEALTH, EventKind.RISK_LEVEL, EventKind.PLATFORM_HEALTH}


class _RedReceiver(WebhookReceiver):
    """Times the first webhook that carries a red alert."""

    def __init__(self) -> None:
        self.red_at: float | None = None
        self.got = threading.Event()
        super().__init__(self._note)

    def _note(self, body: bytes) -> None:
        if b'"level": "red"' in body or b'"level":"red"' in body:
            if self.red_at is None:
                self.red_at = time.monotonic()
            self.got.set()


def _rules(url: str) -> RulesConfig:
    data = yaml.safe_load(DEFAULT_RULES_PATH.read_text())
    data["defaults"].update(group_wait_s=0, group_interval_s=0)
    data["receivers"] = [{"name": "hook", "type": "webhook", "url": url}]
    data["routes"] = [{"receivers": ["hook"]}]
    data["escalations"] = []
    data["defaults"]["delivery_failure_receivers"] = ["hook"]
    data["webhook_allowlist"] = ["127.0.0.1"]  # the bench's receiver is on loopback
    return parse_rules(data)


def _seed(engine: Engine, flood: int) -> None:
    with engine.begin() as conn:
        insert_many(conn, table="utilities", rows=[{"id": "bench", "name": "Bench utility"}])
        insert_many(conn, table="districts", rows=[{"id": "BD", "name": "Bench district", "population": 50000}])
        base = {"district_id": "BD", "utility_id": "bench", "lat": 36.0, "lon": 120.0, "criticality": 4}
        insert_many(
            conn,
            table="assets",
            rows=[
                {"id": "GAS", "name": "Gas main", "kind": "gas_pipeline", **base},
                {"id": "CULVERT", "name": "Culvert", "kind": "drainage_culvert", **base},
            ],
        )
        sensor = {"utility_id": "bench", "expected_interval_s": 60}
        rows = [{"id": "GAS-S", "asset_id": "GAS", "kind": "methane", "unit": "percent_lel", **sensor}]
        rows += [
            {"id": f"DR{i:05d}", "asset_id": "CULVERT", "kind": "drainage_level", "unit": "m", **sensor}
            for i in range(flood)
        ]
        insert_many(conn, table="sensors", rows=rows)


def _event(sensor: str, asset: str, kind: str, level: Level, ts: datetime, value: float) -> AnomalyEvent:
    return AnomalyEvent(
        anomaly_id=f"{sensor}-{uuid.uuid4().hex[:6]}",
        phase=AnomalyPhase.OPEN,
        sensor_id=sensor,
        asset_id=asset,
        sensor_kind=kind,
        detector="threshold",
        start=ts,
        ts=ts,
        score=0.9 if level is Level.RED else 0.2,
        peak_score=0.9 if level is Level.RED else 0.2,
        value=value,
        level=level,
        explanation=f"{kind} at {value}",
    )


def red_behind_flood_ms(url: str, *, flood: int = 1000, lane: int = 5000, timeout_s: float = 120.0) -> float:
    """Milliseconds from queueing a red behind ``flood`` low events to its webhook (``lane=0``: strict order)."""
    engine = make_engine(url)
    rx = _RedReceiver()
    rules = _rules(rx.url)
    alert_engine = AlertEngine(engine, None, rules)
    consumer = EventConsumer(
        engine,
        f"alerts-bench-{uuid.uuid4().hex[:6]}",
        alert_engine.handle_in,
        batch=50,
        handle_batch=alert_engine.handle_batch_in,
        kinds=ALERT_KINDS,
        lane_lookahead=lane,
    )
    consumer.start_from_now()
    dispatcher = Dispatcher(engine, {"webhook": WebhookChannel(SECRET, rules=rules)})
    stop = threading.Event()
    consumer.stop_event = stop
    now = datetime.now(UTC)
    log = PgEventLog(engine)
    log.publish_many(
        [
            _event(f"DR{i:05d}", "CULVERT", "drainage_level", Level.BLUE, now + timedelta(seconds=i), 1.2)
            for i in range(flood)
        ]
    )
    t0 = time.monotonic()
    log.publish(_event("GAS-S", "GAS", "methane", Level.RED, now + timedelta(seconds=flood), 55.0))
    threads = [
        threading.Thread(target=consumer.run_forever, daemon=True),
        threading.Thread(target=dispatcher.run_forever, args=(stop,), daemon=True),
    ]
    for t in threads:
        t.start()
    try:
        if not rx.got.wait(timeout_s) or rx.red_at is None:
            raise SystemExit(f"the red did not reach the webhook within {timeout_s:.0f} s")
        return (rx.red_at - t0) * 1000.0
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        rx.server.shutdown()
        engine.dispose()


def run(args: argparse.Namespace) -> int:
    load = os.getloadavg()[0]
    laned: list[float] = []
    strict: list[float] = []
    for _ in range(args.repeats):
        for target, lane in ((laned, args.lookahead), (strict, 0)):
            url = recreate_database("resilience_bench_red_flood")
            _seed(make_engine(url), args.flood)
            target.append(red_behind_flood_ms(url, flood=args.flood, lane=lane))
    worst_lane, worst_strict = max(laned), max(strict)
    print(
        f"red behind {args.flood} low events: lane {sorted(round(x) for x in laned)} ms, "
        f"strict order {sorted(round(x) for x in strict)} ms (worst of {args.repeats} reported)"
    )
    print(
        f"red_behind_flood_ms={worst_lane:.0f} strict_order_ms={worst_strict:.0f} flood={args.flood} "
        f"load_1m={load:.2f} load_1m_end={os.getloadavg()[0]:.2f}"
    )
    return 0


def register(bench_sub: Any) -> None:
    """Add ``bench red-flood`` to ``resilience bench``."""
    p = bench_sub.add_parser("red-flood", help="a red alert's time to its webhook behind a flood of low events")
    p.add_argument("--flood", type=int, default=1000, help="low-level events queued before the red")
    p.add_argument("--lookahead", type=int, default=5000, help="the alert consumer's priority lane window")
    p.add_argument("--repeats", type=int, default=3)
    p.set_defaults(func=run)
