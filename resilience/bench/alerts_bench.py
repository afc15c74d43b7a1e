"""``resilience bench alerts``: latency from an anomalous reading's MQTT publish to its webhook delivery,
while background readings flow through the same ingest, detection and engine processes.

Each probe is a methane reading at 30 %LEL on a culvert of its own (so each is a new alert); the webhook
receiver runs in this process and timestamps arrivals. The background publisher is a separate process
paced to ``--background-rps`` readings/s in SenML packs of 100.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from resilience.bench.webhook_receiver import WebhookReceiver
from resilience.bench.ingest_bench import _count
from resilience.store.db import recreate_database
from resilience.bench.procs import spawn_ready
from resilience.ops.broker_accounts import service_credentials, service_env
from resilience.ops.local_services import start_all
from resilience.core.settings import get_settings
from resilience.store.db import make_engine
from resilience.store.probes import probe_delivery_times
from resilience.store.registry import insert_many


class _Receiver(WebhookReceiver):
    """Notes when each probe token first reaches the webhook (wall-clock seconds)."""

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        super().__init__(self._note)

    def _note(self, body: bytes) -> None:
        now = time.time()
        for token in body.decode("utf-8", "replace").replace('"', " ").split():
            if token.startswith("PROBE-A") and token not in self.arrivals:
                self.arrivals[token] = now


def _seed(url: str, probes: int, background: int, webhook: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        insert_many(conn, table="utilities", rows=[{"id": "bench", "name": "Bench utility", "webhook_url": webhook}])
        # Each probe culvert in a district of its own: breaches in one district would rightly be grouped into
        # one district-wide alert, and this bench measures the latency of each alert.
        insert_many(
            conn,
            table="districts",
            rows=[{"id": "BD", "name": "Bench district", "population": 50000}]
            + [{"id": f"PD{i:03d}", "name": f"Probe district {i}", "population": 20000} for i in range(probes)],
        )
        rows = [
            {
                "id": f"PROBE-A{i:03d}",
                "name": f"Probe culvert {i}",
                "kind": "drainage_culvert",
                "district_id": f"PD{i:03d}",
                "utility_id": "bench",
                "lat": 36.0 + i * 0.01,
                "lon": 120.0,
                "criticality": 4,
            }
            for i in range(probes)
        ]
        rows.append(
            {
                "id": "BG-MAIN",
                "name": "Background main",
                "kind": "water_main",
                "district_id": "BD",
                "utility_id": "bench",
                "lat": 35.5,
                "lon": 120.5,
                "criticality": 3,
            }
        )
        insert_many(conn, table="assets", rows=rows)
        insert_many(
            conn,
            table="sensors",
            rows=[
                {
                    "id": f"PROBE-S{i:03d}",
                    "asset_id": f"PROBE-A{i:03d}",
                    "utility_id": "bench",
                    "kind": "methane",
                    "unit": "percent_lel",
                    "expected_interval_s": 60,
                }
                for i in range(probes)
            ],
        )
        insert_many(
            conn,
            table="sensors",
            rows=[
                {
                    "id": f"BG{i:05d}",
                    "asset_id": "BG-MAIN",
                    "utility_id": "bench",
                    "kind": "water_flow",
                    "unit": "m**3/h",
                    "expected_interval_s": 1,
                }
                for i in range(background)
            ],
        )
    engine.dispose()


def _hops(url: str, sent: dict[str, float]) -> list[str]:
    """Where the time goes, per hop (p50 / max over probes), from the rows each stage wrote.

    publish -> event: ingest batch window + COPY + republish + detection (events.created_at, the detector's
    transaction start); event -> delivered: event-log NOTIFY + alert transaction + outbox NOTIFY + claim + send
    (delivered_at, recorded just after the receiver answered). The outbox row's own timestamps follow the
    engine's data clock (event time), so they cannot split the second hop on the wall clock.
    """
    rows = probe_delivery_times(url)
    hops: dict[str, list[float]] = {"publish->event": [], "event->delivered": []}
    for asset, ev, enq, dlv in rows:
        if asset not in sent or ev is None or enq is None or dlv is None:
            continue
        t0 = sent[asset]
        hops["publish->event"].append((float(ev) - t0) * 1000)
        hops["event->delivered"].append((float(dlv) - float(ev)) * 1000)
    return [f"  {name:<22} p50 {statistics.median(v):6.0f} ms   max {max(v):6.0f} ms" for name, v in hops.items() if v]


def run(args: argparse.Namespace) -> int:
    s = get_settings()
    for line in start_all(s):
        print(line, flush=True)
    url = recreate_database("resilience_bench_alerts")
    receiver = _Receiver()
    _seed(url, args.probes, args.background_sensors, receiver.url)
    root = f"bench-al-{uuid.uuid4().hex[:6]}"
    env = dict(
        os.environ,
        RESILIENCE_DATABASE_URL_OVERRIDE=url,
        RESILIENCE_MQTT_TOPIC_ROOT=root,
        RESILIENCE_MQTT_CLIENT_ID=f"bench-al-{uuid.uuid4().hex[:6]}",
        RESILIENCE_LOG_LEVEL="WARNING",
        RESILIENCE_WEBHOOK_ALLOW_PRIVATE="true",  # the bench's receiver listens on loopback
        **service_env(s, "bench"),
    )  # its throwaway topic root is the bench account's
    logs = s.services_dir / "bench-logs"
    logs.mkdir(parents=True, exist_ok=True)
    env_info = dict(env, RESILIENCE_LOG_LEVEL="INFO")
    procs = [
        spawn_ready(["ingest"], env_info, "subscribed to", logs / "ingest.log"),
        spawn_ready(["detector"], env_info, "subscribed to", logs / "detector.log"),
        spawn_ready(["engine"], env_info, "engine running", logs / "engine.log"),
    ]
    total_bg = int(args.background_rps * (args.probes * args.interval + 30))
    background = ",".join(f"BG{i:05d}" for i in range(args.background_sensors))
    bg = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "resilience.bench.publisher",
            "--port",
            str(s.mqtt_port),
            "--root",
            root,
            "--utility",
            "bench",
            "--sensors",
            background,
            "--count",
            str(total_bg),
            "--pack",
            "100",
            "--rate",
            str(args.background_rps),
            "--start",
            str(time.time() - 1),
            "--step",
            str(args.background_sensors / args.background_rps),
        ],  # real-time pace
        stdout=subprocess.DEVNULL,
    )
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"bench-probe-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5
    )
    creds = service_credentials(s, "bench")
    client.username_pw_set(creds.username, creds.password)
    client.connect(s.mqtt_host, s.mqtt_port)
    client.loop_start()
    sent: dict[str, float] = {}
    try:
        time.sleep(5.0)  # background load reaches steady state
        bg_before, t_bg = _count(url), time.time()
        print(
            f"probing: {args.probes} anomalous readings, one every {args.interval}s, "
            f"background {args.background_rps:.0f} readings/s ...",
            flush=True,
        )
        for i in range(args.probes):
            t = time.time()
            client.publish(f"{root}/bench/PROBE-S{i:03d}", json.dumps({"t": t, "v": 30.0}), qos=1)
            sent[f"PROBE-A{i:03d}"] = t
            time.sleep(args.interval)
        deadline = time.time() + 30
        while len(receiver.arrivals) < len(sent) and time.time() < deadline:
            time.sleep(0.1)
        bg_rps = (_count(url) - bg_before) / (time.time() - t_bg)
    finally:
        client.disconnect()
        client.loop_stop()
        bg.terminate()
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
    lat = sorted((receiver.arrivals[a] - t0) * 1000 for a, t0 in sent.items() if a in receiver.arrivals)
    missing = len(sent) - len(lat)
    if not lat:
        print(f"no probe reached the webhook; logs in {logs}")
        return 1
    p50 = statistics.median(lat)
    p99 = lat[min(len(lat) - 1, int(round(0.99 * (len(lat) - 1))))]
    print(f"delivered {len(lat)}/{len(sent)} probes (missing {missing}); min {lat[0]:.0f} ms, max {lat[-1]:.0f} ms")
    for line in _hops(url, sent):
        print(line)
    print(f"p50_ms={p50:.0f} p99_ms={p99:.0f} background_rps={bg_rps:.0f}")
    return 0 if missing == 0 else 1


def register(bench_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = bench_sub.add_parser("alerts", help="publish-to-webhook latency under background load")
    p.add_argument("--probes", type=int, default=60)
    p.add_argument("--interval", type=float, default=0.5)
    p.add_argument("--background-rps", type=float, default=10_000)
    p.add_argument("--background-sensors", type=int, default=1000)
    p.set_defaults(func=run)
