"""``resilience simulate``: run the city simulator and publish SenML packs over MQTT in (scaled) real time."""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from resilience.simulator.city import build_city
from resilience.simulator.simulation import Simulator
from resilience.simulator.incidents import write_ground_truth


def _settings_value(name: str, default: object) -> object:
    try:
        from resilience.core.settings import get_settings
    except ImportError:
        return default
    return getattr(get_settings(), name, default)


def _database_url() -> str:
    try:
        from resilience.core.settings import get_settings
    except ImportError:
        url = os.environ.get("RESILIENCE_DATABASE_URL")
        if not url:
            raise SystemExit(
                "no database URL: resilience.core.settings missing and RESILIENCE_DATABASE_URL unset"
            ) from None
        return url
    return get_settings().database_url


def _parse_start(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC).replace(microsecond=0)
    ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("simulate", help="simulate the city's sensors and publish SenML over MQTT")
    p.add_argument("--host", default=None, help="MQTT broker host (default: settings mqtt_host)")
    p.add_argument("--port", type=int, default=None, help="MQTT broker port (default: settings mqtt_port)")
    p.add_argument(
        "--username",
        default=None,
        help="broker account (default: the platform's 'simulator' account, which may publish for every utility)",
    )
    p.add_argument("--password", default=None)
    p.add_argument("--sensors", type=int, default=10_000)
    p.add_argument("--districts", type=int, default=None)
    p.add_argument(
        "--speed", type=float, default=1.0, help="simulated seconds per wall second; 0 = as fast as possible"
    )
    p.add_argument("--duration", type=float, default=None, help="simulated seconds to run (default: forever)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--truth", type=Path, default=None, help="write the incident ground truth JSON here")
    p.add_argument("--seed-db", action="store_true", help="insert the registry into the database first")
    p.add_argument("--start", default=None, help="simulated start time, ISO-8601 (default: now, UTC)")
    p.add_argument(
        "--incidents",
        choices=["default", "none", "demo"],
        default="default",
        help="demo: one of each type in the first half hour (what make run uses)",
    )
    p.add_argument("--min-interval", type=float, default=10.0, help="publish-interval floor for 1 Hz kinds (s)")
    p.add_argument(
        "--alt-unit-fraction",
        type=float,
        default=0.02,
        help="share of pressure/length readings sent in a convertible non-canonical unit",
    )
    p.add_argument("--tick", type=float, default=1.0, help="wall seconds between steps (or simulated s at speed 0)")
    p.add_argument("--dry-run", action="store_true", help="generate without publishing (no broker needed)")
    p.set_defaults(func=run)


def _seed_db(city_obj: object) -> None:
    from resilience.simulator.registry import seed_registry
    from resilience.store.db import make_engine

    engine = make_engine(_database_url())
    with engine.begin() as conn:
        counts = seed_registry(conn, city_obj)  # type: ignore[arg-type]  # a simulated City is a registry source
    engine.dispose()
    print("registry seeded: " + ", ".join(f"{k}={v}" for k, v in counts.items()), flush=True)


def run(args: argparse.Namespace) -> int:
    start = _parse_start(args.start)
    t_build = time.monotonic()
    city = build_city(args.seed, args.sensors, args.districts, min_publish_interval_s=args.min_interval)
    horizon = timedelta(seconds=args.duration) if args.duration else timedelta(days=7)
    sim = Simulator(city, start, args.seed, incidents=args.incidents, horizon=horizon)
    print(
        f"city: {len(city.districts)} districts, {len(city.assets)} assets, {len(city.sensors)} sensors, "
        f"{len(sim.incidents)} incidents scheduled (built in {time.monotonic() - t_build:.1f} s)",
        flush=True,
    )
    if args.truth:
        write_ground_truth(args.truth, sim.incidents)
    if args.seed_db:
        _seed_db(city)

    publisher = None
    if not args.dry_run:
        from resilience.simulator.publisher import SenmlPublisher

        host = args.host or str(_settings_value("mqtt_host", "127.0.0.1"))
        port = args.port or int(_settings_value("mqtt_port", 1883))  # type: ignore[call-overload]  # a settings int
        publisher = SenmlPublisher(
            host,
            port,
            sim.sensor_ids,
            sim.units,
            [s.utility_id for s in city.sensors],
            topic_root=str(_settings_value("mqtt_topic_root", "lifeline")),
            client_id=f"{_settings_value('mqtt_client_id', 'resilience')}-simulator",
            alt_unit_fraction=args.alt_unit_fraction,
            seed=args.seed,
            username=args.username,
            password=args.password,
        )
        try:
            publisher.connect()
        except OSError as exc:  # refused, unreachable, or no CONNACK in time
            print(f"cannot connect to MQTT broker {host}:{port}: {exc}", file=sys.stderr)
            return 2
        print(f"publishing to mqtt://{host}:{port}/{publisher.topic_root}/<utility>", flush=True)

    end = start + timedelta(seconds=args.duration) if args.duration else None
    sim_now = start
    wall0 = last_report = time.monotonic()
    total = since_report = 0
    try:
        while True:
            prev = sim_now
            if args.speed > 0:
                time.sleep(max(0.0, args.tick - (time.monotonic() - wall0) % args.tick))
                sim_now = start + timedelta(seconds=(time.monotonic() - wall0) * args.speed)
            else:
                sim_now = prev + timedelta(seconds=args.tick)
            if end and sim_now > end:
                sim_now = end
            batch = sim.step_batch(sim_now)
            if publisher:
                publisher.publish_batch(batch)
                publisher.flush(timeout_s=5.0)
            total += len(batch)
            since_report += len(batch)
            for inc in sim.started_between(prev, sim_now):
                print(
                    f"  {inc.start:%Y-%m-%dT%H:%M:%SZ} incident {inc.incident_id} {inc.type} "
                    f"asset={inc.asset_id} sensors={','.join(inc.sensor_ids)}",
                    flush=True,
                )
            wall = time.monotonic()
            if wall - last_report >= 10.0 or (end and sim_now >= end):
                active = sum(1 for i in sim.incidents if i.start <= sim_now < i.end)
                rate = since_report / max(wall - last_report, 1e-9)
                print(
                    f"sim {sim_now:%Y-%m-%d %H:%M:%S}Z  readings/s {rate:,.0f}  "
                    f"total {total:,}  active incidents {active}",
                    flush=True,
                )
                last_report, since_report = wall, 0
            if end and sim_now >= end:
                break
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    finally:
        if publisher:
            publisher.close()
        if args.truth:  # final truth: only what actually started during the run
            write_ground_truth(args.truth, [i for i in sim.incidents if i.start <= sim_now])
    print(f"done: {total:,} readings up to {sim_now:%Y-%m-%dT%H:%M:%S}Z", flush=True)
    return 0
