"""``resilience bench ingest``: sustained MQTT-publish-to-committed-row throughput, next to its two limits.

Every figure comes from one run on this machine: the broker alone (publisher -> counting subscriber,
each in its own process, QoS 1), raw PostgreSQL COPY of the same rows, and the real ingest worker
process for single-reading messages and SenML packs of 100. A fresh database is created for the run.

The publisher is forked from this process (its imports already done) rather than started as a new
interpreter: start-up took ~0.35 s, most of a 20,000-reading run, and so measured Python's start, not ingest.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

from resilience.bench import publisher as publisher_main
from resilience.bench.procs import spawn_ready
from resilience.ops.broker_accounts import service_env
from resilience.ops.local_services import start_all
from resilience.core.settings import get_settings
from resilience.store.db import make_engine, recreate_database
from resilience.store.probes import copy_seconds, count_readings
from resilience.store.registry import insert_many

PY = [sys.executable, "-m"]


def _say(msg: str) -> None:
    print(msg, flush=True)


def _seed(url: str, n_sensors: int) -> list[str]:
    ids = [f"B{i:05d}" for i in range(n_sensors)]
    engine = make_engine(url)
    with engine.begin() as conn:
        insert_many(conn, table="utilities", rows=[{"id": "bench", "name": "Bench utility"}])
        insert_many(conn, table="districts", rows=[{"id": "BD", "name": "Bench district"}])
        insert_many(
            conn,
            table="assets",
            rows=[
                {
                    "id": "BA",
                    "name": "Bench asset",
                    "kind": "water_main",
                    "district_id": "BD",
                    "lat": 36.0,
                    "lon": 120.0,
                }
            ],
        )
        insert_many(
            conn,
            table="sensors",
            rows=[
                {
                    "id": i,
                    "asset_id": "BA",
                    "utility_id": "bench",
                    "kind": "water_flow",
                    "unit": "m**3/h",
                    "expected_interval_s": 1,
                }
                for i in ids
            ],
        )
    engine.dispose()
    return ids


def _count(url: str) -> int:
    return count_readings(url)


def broker_alone(n: int, topic_root: str) -> float:
    s = get_settings()
    counter = subprocess.Popen(
        PY + ["resilience.bench.counter", "--port", str(s.mqtt_port), "--topic", f"{topic_root}/#", "--count", str(n)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert counter.stdout is not None
    counter.stdout.readline()  # "ready"
    t0 = time.perf_counter()
    pub = start_publisher(publisher(s.mqtt_port, topic_root, ["B00000"], n, pack=1))
    out, _ = counter.communicate(timeout=600)
    pub.join(timeout=60)
    elapsed = time.perf_counter() - t0
    got = int(json.loads(out.strip().splitlines()[-1])["received"])
    return got / elapsed


def publisher(port: int, topic_root: str, sensor_ids: list[str], n: int, *, pack: int) -> list[str]:
    """The bench publisher's arguments: ``n`` readings of ``sensor_ids`` as the bench utility."""
    return [
        *("--port", str(port), "--root", topic_root, "--utility", "bench"),
        *("--sensors", ",".join(sensor_ids), "--count", str(n), "--pack", str(pack)),
    ]


def _publish(argv: list[str]) -> None:
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the child's summary line is not the bench's output
    sys.exit(publisher_main.main(argv))


def start_publisher(argv: list[str]) -> multiprocessing.process.BaseProcess:
    """The publisher in a forked child: already imported, so the timed window holds no interpreter start-up."""
    proc = multiprocessing.get_context("fork").Process(target=_publish, args=(argv,), daemon=True)
    proc.start()
    return proc


def copy_rate(url: str, ids: list[str], n: int) -> float:
    base = datetime.now(UTC) - timedelta(days=2)
    rows = [(ids[i % len(ids)], base + timedelta(milliseconds=i), float(i % 1000)) for i in range(n)]
    return n / copy_seconds(url, rows)


def through_worker(url: str, ids: list[str], n: int, pack: int, topic_root: str, start: float) -> float:
    s = get_settings()
    env = dict(
        os.environ,
        RESILIENCE_DATABASE_URL_OVERRIDE=url,
        RESILIENCE_MQTT_TOPIC_ROOT=topic_root,
        RESILIENCE_MQTT_CLIENT_ID=f"bench-ingest-{uuid.uuid4().hex[:6]}",
        **service_env(s, "bench"),
    )  # its throwaway topic root is the bench account's
    # Wait for the subscription: messages published before a new session exists are not queued for it.
    worker = spawn_ready(["ingest"], env, "subscribed to", s.services_dir / "bench-logs" / f"ingest-{topic_root}.log")
    try:
        before = _count(url)
        t0 = time.perf_counter()
        pub = start_publisher(
            publisher(s.mqtt_port, topic_root, ids, n, pack=pack) + ["--start", str(start), "--step", "1"]
        )
        target = before + n
        while True:
            got = _count(url)
            if got >= target:
                break
            if time.perf_counter() - t0 > 600:
                raise RuntimeError(f"only {got - before} of {n} readings committed after 600 s")
            time.sleep(0.01)  # the window ends within 10 ms of the last commit (a run may last 0.3 s)
        elapsed = time.perf_counter() - t0
        pub.join(timeout=60)
        return n / elapsed
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def run(args: argparse.Namespace) -> int:
    s = get_settings()
    for line in start_all(s):
        _say(line)
    url = recreate_database("resilience_bench")
    ids = _seed(url, args.sensors)
    root = f"bench-{uuid.uuid4().hex[:6]}"
    _say(f"broker alone: {args.single} QoS 1 messages, publisher and counting subscriber in separate processes ...")
    broker_mps = broker_alone(args.single, root + "-b")
    _say(f"  {broker_mps:,.0f} msg/s")
    _say(f"raw COPY of {args.packs:,} rows ...")
    copy_rps = copy_rate(url, ids, args.packs)
    _say(f"  {copy_rps:,.0f} rows/s")
    now = time.time()
    _say(f"end to end, single-reading messages: {args.single:,} ...")
    single_mps = through_worker(url, ids, args.single, 1, root + "-s", now - 3 * 86400)
    _say(f"  {single_mps:,.0f} msg/s committed ({single_mps / broker_mps:.2f} x broker alone)")
    _say(f"end to end, SenML packs of 100: {args.packs:,} readings ...")
    pack_rps = through_worker(url, ids, args.packs, 100, root + "-p", now - 1 * 86400)
    _say(f"  {pack_rps:,.0f} readings/s committed")
    # The machine is shared and noisy: judge the pipeline by its ratio to limits measured in the same run.
    print(
        f"pack_rps={pack_rps:.0f} single_mps={single_mps:.0f} copy_rps={copy_rps:.0f} broker_mps={broker_mps:.0f} "
        f"pack_copy_ratio={pack_rps / copy_rps:.3f} single_broker_ratio={single_mps / broker_mps:.3f}"
    )
    return 0


def register(bench_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = bench_sub.add_parser("ingest", help="MQTT -> committed row throughput vs broker and COPY limits")
    p.add_argument("--single", type=int, default=30_000, help="single-reading messages to send")
    p.add_argument("--packs", type=int, default=1_000_000, help="readings to send in packs of 100")
    p.add_argument("--sensors", type=int, default=1000)
    p.set_defaults(func=run)
