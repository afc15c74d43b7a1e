"""``resilience bench console``: how fast the console shows a busy city in a real browser.

A throwaway database gets 20 districts, 3,000 assets with a risk level each and 500 firing alerts (through the
alert engine, as in production). The API runs under uvicorn on a free loopback port; Debian's Chromium
(playwright) logs in and measures, from navigation start, when the alert list has drawn every firing alert
and when the map has drawn every asset (first meaningful paint; once in a fresh context with nothing cached,
``map_cold_paint_ms``, and once after the alert page), then the latency from a new alert's commit
to its row on screen, over SSE (``alert_to_screen_ms_median``, ``alert_to_screen_ms_max``). The last line is
``key=value`` pairs, ending with ``first_paint_ms`` (the slower of the two pages) and ``alert_to_screen_ms``
(the worst latency), against the targets of 1,000 ms each, then the operations wall's ``wall_first_paint_ms``
and ``alert_to_wall_ms`` (issue 24: run with ``--assets 10000`` for its figures).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn

from alerts.api_support import get_rules
from alerts.consumer import AlertEngine
from resilience.core.domain import Level
from resilience.core.events import AnomalyEvent, AnomalyPhase
from resilience.ops.local_services import LocalPostgres
from resilience.core.settings import get_settings
from resilience.risk.repository import CurrentRow
from resilience.risk.store import PgRiskRepository
from resilience.store import api_keys
from resilience.store.db import Engine, make_engine, recreate_database
from resilience.store.registry import insert_many

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# where the map page's time goes: requests before the first paint, when its data call started and how long
# it took, its size, and when the ECharts module had arrived (all ms from navigation start)
MAP_PROFILE = """() => {
  const r = performance.getEntriesByType('resource');
  const m = r.find(e => e.name.includes('/api/v1/console/map')), e = r.find(e => e.name.includes('echarts'));
  return {map_requests: r.length, map_api_start_ms: m ? m.startTime : -1,
          map_api_ms: m ? m.responseEnd - m.startTime : -1, map_kb: m ? m.decodedBodySize / 1024 : -1,
          echarts_ready_ms: e ? e.responseEnd : -1,
          ...Object.fromEntries(performance.getEntriesByType('mark').map(k => [k.name.replace('-', '_') + '_ms',
                                                                                k.startTime]))};
}"""
# where the alert page's time goes: when the stream was opened and its snapshot arrived, the stream's request
ALERTS_PROFILE = """() => {
  const m = Object.fromEntries(performance.getEntriesByType('mark')
    .map(k => ['alerts_' + k.name.replace('-', '_') + '_ms', k.startTime]));
  const nav = performance.getEntriesByType('navigation')[0];
  return {...m, alerts_dom_ms: nav ? nav.domContentLoadedEventEnd : -1};
}"""
# where the wall's first paint goes: its own marks (code, map data, snapshot, counts, map painted), and when
# its map and summary requests started, how long they took and their size
WALL_PROFILE = """() => {
  const r = performance.getEntriesByType('resource'), out = {};
  for (const [key, part] of [['wall_map_api', '/api/v1/console/wall/map'], ['wall_summary_api', '/wall/summary']]) {
    const e = r.find(x => x.name.includes(part));
    if (e) Object.assign(out, {[key + '_start_ms']: e.startTime, [key + '_ms']: e.responseEnd - e.startTime,
                               [key + '_kb']: e.decodedBodySize / 1024});
  }
  for (const k of performance.getEntriesByType('mark')) if (k.name.startsWith('wall')) {
    out[k.name.replaceAll('-', '_') + '_ms'] = k.startTime;
  }
  return out;
}"""
GRID = 5  # the 20 districts are a 5 x 4 grid
LEVELS = [Level.RED] * 1 + [Level.ORANGE] * 2 + [Level.YELLOW] * 2  # the mix of the seeded alerts


def _square(row: int, col: int) -> dict[str, Any]:
    lon, lat = 120.30 + 0.035 * col, 36.00 + 0.03 * row
    return {
        "type": "Polygon",
        "coordinates": [[[lon, lat], [lon + 0.035, lat], [lon + 0.035, lat + 0.03], [lon, lat + 0.03], [lon, lat]]],
    }


def seed_city(engine: Engine, n_assets: int) -> None:
    """20 districts, ``n_assets`` culverts with one methane sensor and a risk level each."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        insert_many(conn, table="utilities", rows=[{"id": "bench-gas", "name": "Bench Gas"}])
        insert_many(
            conn,
            table="districts",
            rows=[
                {
                    "id": f"D{i:02d}",
                    "name": f"District {i:02d}",
                    "population": 100_000,
                    "polygon": _square(i // GRID, i % GRID),
                }
                for i in range(20)
            ],
        )
        rows = []
        for i in range(n_assets):
            d = i % 20
            lon, lat = (
                120.30 + 0.035 * (d % GRID) + 0.001 + 0.033 * ((i * 7919) % 997) / 997,
                36.00 + 0.03 * (d // GRID) + 0.001 + 0.028 * ((i * 104729) % 991) / 991,
            )
            rows.append(
                {
                    "id": f"A{i:05d}",
                    "name": f"Culvert {i:05d}",
                    "kind": "drainage_culvert",
                    "district_id": f"D{d:02d}",
                    "utility_id": "bench-gas",
                    "lat": lat,
                    "lon": lon,
                }
            )
        insert_many(conn, table="assets", rows=rows)
        insert_many(
            conn,
            table="sensors",
            rows=[
                {
                    "id": f"S{i:05d}",
                    "asset_id": f"A{i:05d}",
                    "utility_id": "bench-gas",
                    "kind": "methane",
                    "unit": "percent_lel",
                    "expected_interval_s": 60,
                }
                for i in range(n_assets)
            ],
        )
        PgRiskRepository(conn).write_current(
            [
                CurrentRow(f"asset:A{i:05d}", "gas_explosion", 0.1, Level(i % 5), now, 3, 3, factors(i))
                for i in range(n_assets)
            ]
            + [CurrentRow(f"district:D{d:02d}", "gas_explosion", 0.5, Level(d % 5), now) for d in range(20)]
        )


def factors(i: int) -> list[dict[str, Any]]:
    """Six factors as the risk model writes them (an English detail, a message code and its parameters); one
    asset in fifty is raised by its neighbour, so the map has links to draw."""

    def one(name: str, side: str, weight: float, **extra: Any) -> dict[str, Any]:
        return {
            "name": name,
            "side": side,
            "weight": weight,
            "detail": f"{name} of A{i:05d} " * 4,
            "source": None,
            "distance_m": None,
            "rule": None,
            "code": name,
            "params": {"v": weight, **extra},
        }

    out = [
        one("anomaly", "likelihood", 0.4),
        one("vulnerability", "likelihood", 0.2, age="31 years"),
        one("criticality", "consequence", 0.3),
        one("population", "consequence", 0.2, district="D01"),
        one("critical_facility", "consequence", 0.1, facility="school"),
        one("age", "likelihood", 0.1),
    ]
    if i % 50 == 1:
        out.append({**one("coupling", "likelihood", 0.5), "source": f"A{i - 1:05d}", "rule": "gas_into_drain"})
    return out


def anomaly(i: int, level: Level) -> AnomalyEvent:
    now = datetime.now(UTC)
    return AnomalyEvent(
        anomaly_id=f"bench-{uuid.uuid4().hex}",
        phase=AnomalyPhase.OPEN,
        sensor_id=f"S{i:05d}",
        asset_id=f"A{i:05d}",
        sensor_kind="methane",
        detector="threshold",
        start=now,
        ts=now,
        score=0.9,
        peak_score=0.9,
        value=60.0,
        level=level,
        explanation=f"methane at A{i:05d}",
    )


def serve(engine: Engine) -> tuple[uvicorn.Server, threading.Thread, int]:
    from resilience.api.main import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(engine=engine), lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    return server, thread, sock.getsockname()[1]


def login(browser: Any, url: str, key: str) -> Any:
    """A new browser context (empty cache) logged in through the form."""
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{url}/login")
    page.fill("#k", key)
    page.click("button")
    page.wait_for_url(f"{url}/")
    return page


def map_paint(page: Any, url: str) -> float:
    """Navigate to the map; ms from navigation start to its first frame with every asset drawn."""
    page.goto(f"{url}/console/map")
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_function("window.__console && window.__console.mapReady === true")  # first frame drawn
    return float(page.evaluate("performance.now()"))


def wall(browser: Any, url: str, key: str, alerts: AlertEngine, args: argparse.Namespace) -> dict[str, float]:
    """The operations wall at 1920 x 1080: ms from navigation start to its map's first frame with every asset,
    the feed and the counts drawn (``wall_first_paint_ms``), then the worst latency from a new red's commit to
    its line on the wall's feed (``alert_to_wall_ms``)."""
    page = login(browser, url, key)
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"{url}/console/wall")
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_function("window.__console && window.__console.firstPaintAt > 0")  # map, feed and counts drawn
    page.wait_for_selector("#wall-feed li[data-alert-id]")
    out = {"wall_first_paint_ms": float(page.evaluate("window.__console.firstPaintAt"))}
    out.update(page.evaluate(WALL_PROFILE))
    page.wait_for_selector("#live[data-state='open']")
    latencies = []
    for n in range(args.probes):
        i = args.alerts + args.probes + n  # culverts the alert page's probes did not use
        committed = time.time() * 1000
        (made,) = alerts.handle(anomaly(i, Level.RED))
        page.wait_for_selector(f"#wall-feed li[data-alert-id='{made.id}']")
        latencies.append(page.evaluate("performance.timeOrigin + window.__console.wallRenderedAt") - committed)
    page.context.close()
    out["alert_to_wall_ms"] = max(latencies)
    return out


def measure(url: str, key: str, engine: Engine, alerts: AlertEngine, args: argparse.Namespace) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    out: dict[str, float] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        # the map first, in a fresh context: nothing cached (ECharts, the scripts), as a new duty officer sees it
        cold = login(browser, url, key)
        out["map_cold_paint_ms"] = map_paint(cold, url)
        out.update({f"cold_{k}": v for k, v in cold.evaluate(MAP_PROFILE).items()})
        cold.context.close()
        page = login(browser, url, key)
        page.goto(f"{url}/console/")
        page.wait_for_function(f"document.querySelectorAll('tr[data-alert-id]').length >= {args.alerts}")
        out["alerts_paint_ms"] = page.evaluate("window.__console.renderedAt")
        out.update(page.evaluate(ALERTS_PROFILE))
        out["map_paint_ms"] = map_paint(page, url)  # with the alert page's scripts cached, as a shift goes on
        out.update(page.evaluate(MAP_PROFILE))
        page.goto(f"{url}/console/")
        page.wait_for_selector("#live[data-state='open']")
        page.wait_for_function(f"document.querySelectorAll('tr[data-alert-id]').length >= {args.alerts}")
        latencies = []
        for n in range(args.probes):
            i = args.alerts + n
            committed = time.time() * 1000
            (made,) = alerts.handle(anomaly(i, Level.RED))
            page.wait_for_selector(f"tr[data-alert-id='{made.id}']")
            shown = page.evaluate("performance.timeOrigin + window.__console.renderedAt")
            latencies.append(shown - committed)
        walled = wall(browser, url, key, alerts, args)
        browser.close()
    latencies.sort()
    out["alert_to_screen_ms_median"] = statistics.median(latencies)
    out["alert_to_screen_ms_max"] = latencies[-1]
    # the two figures: the slowest first meaningful paint (cold or warm), and the worst new-alert latency
    out["first_paint_ms"] = max(out["alerts_paint_ms"], out["map_paint_ms"], out["map_cold_paint_ms"])
    out["alert_to_screen_ms"] = out["alert_to_screen_ms_max"]
    out.update(walled)  # the wall's two figures last
    return out


def run(args: argparse.Namespace) -> int:
    if not CHROMIUM.exists():
        print("chromium missing: apt-get install -y chromium")
        return 1
    LocalPostgres(get_settings()).start()
    engine = make_engine(recreate_database("resilience_bench_console"))
    seed_city(engine, args.assets)
    alerts = AlertEngine(engine, None, get_rules(), now=lambda: datetime.now(UTC))
    t0 = time.monotonic()
    with engine.begin() as conn:
        made = alerts.handle_batch_in([anomaly(i, LEVELS[i % len(LEVELS)]) for i in range(args.alerts)], conn)
    print(f"seeded {args.assets} assets and {len(made)} alerts in {time.monotonic() - t0:.1f} s", flush=True)
    with engine.begin() as conn:
        _, key = api_keys.create_key(conn, name="bench-console", role="operator")
    server, thread, port = serve(engine)
    try:
        figures = measure(f"http://127.0.0.1:{port}", key, engine, alerts, args)
    finally:
        server.should_exit = True
        thread.join(30)
        engine.dispose()
    print(
        f"alerts={args.alerts} assets={args.assets} probes={args.probes} "
        + " ".join(f"{k}={v:.0f}" for k, v in figures.items())
    )
    return 0


def register(bench_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = bench_sub.add_parser("console", help="console first paint with a busy city, and new-alert-to-screen latency")
    p.add_argument("--alerts", type=int, default=500)
    p.add_argument("--assets", type=int, default=3000)
    p.add_argument("--probes", type=int, default=20)
    p.set_defaults(func=run)
