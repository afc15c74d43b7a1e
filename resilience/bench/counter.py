"""A subscriber that only counts (QoS 1), in its own process: the broker-alone limit for ``bench ingest``."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from resilience.ops.broker_accounts import add_client_args, client_credentials


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=51883)
    p.add_argument("--topic", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--timeout", type=float, default=300)
    add_client_args(p, "bench")
    args = p.parse_args(argv)
    n = 0
    first = last = 0.0
    done = threading.Event()
    ready = threading.Event()

    def on_message(c: mqtt.Client, u: object, msg: mqtt.MQTTMessage) -> None:
        nonlocal n, first, last
        n += 1
        if n == 1:
            first = time.perf_counter()
        last = time.perf_counter()
        if n >= args.count:
            done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-count-{time.time_ns()}", protocol=mqtt.MQTTv5)
    client.on_message = on_message
    client.on_subscribe = lambda *a: ready.set()
    creds = client_credentials(args)
    client.username_pw_set(creds.username, creds.password)
    client.connect(args.host, args.port)
    client.subscribe(args.topic, qos=1)
    client.loop_start()
    ready.wait(10)
    print("ready", flush=True)
    done.wait(args.timeout)
    client.disconnect()
    client.loop_stop()
    print(json.dumps({"received": n, "seconds": last - first}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
