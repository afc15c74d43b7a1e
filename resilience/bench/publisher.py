"""A load publisher in its own process (two paho clients in one process collapse QoS 1 throughput).

``python -m resilience.bench.publisher --count 20000 --pack 1 --sensors S1,S2 --utility U``
publishes ``count`` readings as single-reading plain JSON messages on ``<root>/<utility>/<sensor>``
(``--pack 1``) or as SenML packs of ``--pack`` records on ``<root>/<utility>``, QoS 1, and prints one JSON
line with what it sent and how long it took, once every PUBACK has arrived.
"""

from __future__ import annotations

import argparse
import json
import random
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
    p.add_argument("--root", default="lifeline")
    p.add_argument("--utility", required=True)
    p.add_argument("--sensors", required=True, help="comma-separated sensor ids")
    p.add_argument("--count", type=int, required=True, help="readings to send")
    p.add_argument("--pack", type=int, default=1)
    p.add_argument("--start", type=float, default=None, help="epoch seconds of the first reading")
    p.add_argument("--step", type=float, default=0.001, help="seconds between a sensor's readings")
    p.add_argument("--qos", type=int, default=1)
    p.add_argument("--topic", default=None, help="publish every message on this topic instead")
    p.add_argument("--rate", type=float, default=0.0, help="readings per second (0 = as fast as possible)")
    add_client_args(p, "bench")
    args = p.parse_args(argv)

    sensors = args.sensors.split(",")
    rng = random.Random(42)
    start = args.start if args.start is not None else time.time() - args.count * args.step / len(sensors) - 60
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{time.time_ns()}", protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    acked = 0
    done = threading.Event()
    total_msgs = (args.count + args.pack - 1) // args.pack

    def on_publish(c: mqtt.Client, u: object, mid: int, rc: object, props: object) -> None:
        nonlocal acked
        acked += 1
        if acked >= total_msgs:
            done.set()

    client.on_publish = on_publish
    creds = client_credentials(args)
    client.username_pw_set(creds.username, creds.password)
    client.connect(args.host, args.port)
    client.loop_start()
    t0 = time.perf_counter()
    sent = 0
    i = 0
    while sent < args.count:
        n = min(args.pack, args.count - sent)
        if args.pack == 1:
            s = sensors[i % len(sensors)]
            t = start + (i // len(sensors)) * args.step
            topic = args.topic or f"{args.root}/{args.utility}/{s}"
            payload = json.dumps({"t": round(t, 6), "v": round(rng.uniform(0.4, 0.6), 4)})
        else:
            records = []
            for k in range(n):
                j = i + k
                records.append(
                    {
                        "n": sensors[j % len(sensors)],
                        "t": round((j // len(sensors)) * args.step, 6),
                        "v": round(rng.uniform(0.4, 0.6), 4),
                    }
                )  # steady noise, never stuck
            records[0]["bt"] = start
            topic = args.topic or f"{args.root}/{args.utility}"
            payload = json.dumps(records, separators=(",", ":"))
        client.publish(topic, payload, qos=args.qos)
        sent += n
        if args.rate > 0:  # pace to the requested rate
            ahead = sent / args.rate - (time.perf_counter() - t0)
            if ahead > 0:
                time.sleep(ahead)
        i += n
    done.wait(timeout=600)
    elapsed = time.perf_counter() - t0
    client.disconnect()
    client.loop_stop()
    print(json.dumps({"readings": sent, "messages": total_msgs, "acked": acked, "seconds": elapsed}), flush=True)
    return 0 if acked >= total_msgs else 1


if __name__ == "__main__":
    sys.exit(main())
