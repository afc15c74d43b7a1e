"""``resilience bench scale-out``: real processes, a kill cycle, exact counts (docs/scaling.md).

1. ingest, one worker then two on a shared subscription: single-reading QoS 1 messages to committed rows;
   the one-worker rate is the reference measured in the same run (``ingest_2w_over_1w``).
2. ingest failover: two workers, a stream at a fixed rate, one SIGKILLed and restarted at once under its
   instance: seconds from the kill until every reading is stored; lost (sent, not stored) and duplicated
   (handed to detection more than once) counted exactly.
3. leader takeover: two engines on the leader lease, the leader SIGKILLed: seconds until the standby holds it.
The detector does not scale out yet: its figures print ``n/a``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import time
import uuid

from resilience.store.db import Engine
from resilience.store.leases import live_holder
from resilience.store.readings import stored_and_handed

from resilience.bench.ingest_bench import _seed, publisher, start_publisher
from resilience.bench.procs import spawn_ready
from resilience.core.settings import get_settings
from resilience.ops.broker_accounts import service_env
from resilience.ops.local_services import start_all
from resilience.store.db import make_engine, recreate_database


def _say(msg: str) -> None:
    print(msg, flush=True)


def _env(url: str, root: str, group: str, **extra: str) -> dict[str, str]:
    s = get_settings()
    return dict(
        os.environ,
        RESILIENCE_DATABASE_URL_OVERRIDE=url,
        RESILIENCE_MQTT_TOPIC_ROOT=root,
        RESILIENCE_MQTT_CLIENT_ID=f"bench-ingest-{group}",
        RESILIENCE_MQTT_SHARED_GROUP=group,
        **service_env(s, "bench"),
        **extra,
    )


def _ingest(env: dict[str, str], instance: str) -> subprocess.Popen[bytes]:
    log = (
        get_settings().services_dir
        / "bench-logs"
        / f"scale-ingest-{env['RESILIENCE_MQTT_SHARED_GROUP']}-{instance}.log"
    )
    return spawn_ready(["ingest", "--instance", instance], env, "subscribed to", log)


def _counts(engine: Engine) -> tuple[int, int, int]:
    """(readings stored, distinct (sensor, ts), readings handed to detection)."""
    with engine.connect() as conn:
        return stored_and_handed(conn)


def _wait_stored(engine: Engine, target: int, limit_s: float = 600) -> float:
    t0 = time.perf_counter()
    while _counts(engine)[0] < target:
        if time.perf_counter() - t0 > limit_s:
            raise RuntimeError(f"only {_counts(engine)[0]} of {target} readings stored after {limit_s} s")
        time.sleep(0.01)
    return time.perf_counter() - t0


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        p.wait(timeout=30)


def ingest_rate(url: str, engine: Engine, ids: list[str], n: int, workers: int, start: float) -> float:
    group = f"g{uuid.uuid4().hex[:6]}"
    root = f"bench-{group}"
    env = _env(url, root, group)
    procs = [_ingest(env, str(i)) for i in range(1, workers + 1)]
    try:
        before = _counts(engine)[0]
        t0 = time.perf_counter()
        pub = start_publisher(publisher(get_settings().mqtt_port, root, ids, n, pack=1) + ["--start", str(start)])
        _wait_stored(engine, before + n)
        elapsed = time.perf_counter() - t0
        pub.join(timeout=60)
        return n / elapsed
    finally:
        _stop(procs)


def ingest_failover(url: str, engine: Engine, ids: list[str], n: int, start: float) -> tuple[float, int, int]:
    """(seconds from the kill until all stored, lost, duplicated) for a stream of ``n`` at 2,000/s."""
    group = f"f{uuid.uuid4().hex[:6]}"
    root = f"bench-{group}"
    env = _env(url, root, group)
    procs = [_ingest(env, "1"), _ingest(env, "2")]
    try:
        stored0, _, handed0 = _counts(engine)
        argv = publisher(get_settings().mqtt_port, root, ids, n, pack=1) + ["--start", str(start), "--rate", "2000"]
        pub = start_publisher(argv)
        while _counts(engine)[0] - stored0 < n // 4:
            time.sleep(0.01)
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait(timeout=10)
        t0 = time.perf_counter()
        procs[0] = _ingest(env, "1")  # the same instance: the broker hands back its session's queue
        _wait_stored(engine, stored0 + n)
        failover_s = time.perf_counter() - t0
        pub.join(timeout=120)
        time.sleep(1.0)  # anything doubled would show up now
        stored, distinct, handed = _counts(engine)
        return failover_s, n - (distinct - stored0), (handed - handed0) - (stored - stored0)
    finally:
        _stop(procs)


def leader_takeover(url: str, engine: Engine, lease_s: float) -> float:
    env = _env(url, "bench-engine", "engine", RESILIENCE_LEADER_LEASE_S=str(lease_s))
    logs = get_settings().services_dir / "bench-logs"
    leader = spawn_ready(["engine", "--instance", "a"], env, "engine running", logs / "scale-engine-a.log")
    standby = spawn_ready(["engine", "--instance", "b"], env, "standby: lease", logs / "scale-engine-b.log")
    try:
        leader.send_signal(signal.SIGKILL)
        leader.wait(timeout=10)
        t0 = time.perf_counter()
        while True:
            with engine.connect() as conn:
                holder = live_holder(conn, "engine")
            if holder == "engine-b":
                return time.perf_counter() - t0
            if time.perf_counter() - t0 > 10 * lease_s:
                raise RuntimeError("the standby did not take over")
            time.sleep(0.02)
    finally:
        _stop([standby])


def run(args: argparse.Namespace) -> int:
    for line in start_all(get_settings()):
        _say(line)
    _say(f"load average at start: {os.getloadavg()}")
    url = recreate_database("resilience_bench_scale")
    ids = _seed(url, args.sensors)
    engine = make_engine(url)
    now = time.time()
    one = ingest_rate(url, engine, ids, args.messages, 1, now - 3 * 86400)
    _say(f"ingest, 1 worker: {one:,.0f} msg/s committed (the reference)")
    two = ingest_rate(url, engine, ids, args.messages, 2, now - 2 * 86400)
    _say(f"ingest, 2 workers on a shared subscription: {two:,.0f} msg/s ({two / one:.2f} x one)")
    failover_s, lost, duplicated = ingest_failover(url, engine, ids, args.messages, now - 1 * 86400)
    _say(f"ingest failover: {failover_s:.1f} s from the kill until all stored; lost {lost}, duplicated {duplicated}")
    takeover_s = leader_takeover(url, engine, args.lease_s)
    _say(f"engine leader SIGKILLed, lease {args.lease_s} s: the standby took over in {takeover_s:.1f} s")
    _say(f"load average at end: {os.getloadavg()}")
    engine.dispose()
    print(
        f"ingest_2w_over_1w={two / one:.2f} detector_2w_over_1w=n/a ingest_failover_s={failover_s:.1f} "
        f"detector_takeover_s=n/a leader_takeover_s={takeover_s:.1f} lost={lost} duplicated={duplicated} "
        "scored_twice=n/a anomalies_equal=n/a"
    )
    return 0


def register(bench_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = bench_sub.add_parser("scale-out", help="ingest x2 vs x1, ingest failover, engine leader takeover")
    p.add_argument("--messages", type=int, default=20_000, help="single-reading messages per phase")
    p.add_argument("--sensors", type=int, default=1000)
    p.add_argument("--lease-s", type=float, default=10.0)
    p.set_defaults(func=run)
