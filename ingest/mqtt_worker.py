"""The MQTT ingest worker: QoS 1, persistent session, acknowledged only after commit.

paho's network thread only enqueues messages; one writer thread drains the queue in batches, commits
them through ``IngestPipeline`` and then acknowledges each message (``manual_ack``). If the worker dies
before the commit, the broker still holds the unacknowledged messages for our persistent session and
redelivers them on reconnect; if it dies after the commit but before the ack, the redelivered readings
hit ``ON CONFLICT DO NOTHING``. Either way every accepted reading is stored exactly once.

After each commit the accepted readings (canonical units) are republished on ``internal/<root>/accepted`` as one
compact message per batch, for the detection worker: it sees exactly what was stored, from both
transports, without polling the database.
"""

from __future__ import annotations

import json
import logging
import queue
import signal
import threading
import time
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from prometheus_client import start_http_server

from ingest.pipeline import QUEUE_DEPTH, IngestPipeline, Message, Prepared
from resilience.domain import Reading
from resilience.settings import Settings

log = logging.getLogger(__name__)


def accepted_topic(root: str) -> str:
    """Where committed batches are republished for detection, namespaced by the deployment's topic root."""
    return f"internal/{root}/accepted"
SESSION_EXPIRY_S = 7 * 24 * 3600


def encode_accepted(readings: list[Reading]) -> bytes:
    return json.dumps({"r": [[r.sensor_id, r.ts.timestamp(), r.value] for r in readings]},
                      separators=(",", ":")).encode()


def topic_parts(topic: str, root: str) -> tuple[str | None, str | None]:
    """``root/<utility>`` or ``root/<utility>/<sensor_id>`` -> (utility, sensor)."""
    parts = topic.split("/")
    if len(parts) < 2 or parts[0] != root:
        return None, None
    return parts[1] or None, (parts[2] if len(parts) > 2 and parts[2] else None)


def make_client(client_id: str, *, clean_start: bool = False, manual_ack: bool = False) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5,
                         manual_ack=manual_ack)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    return client


def connect_properties(receive_maximum: int = 1000) -> Properties:
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = SESSION_EXPIRY_S
    props.ReceiveMaximum = receive_maximum
    return props


@dataclass(frozen=True, slots=True)
class _Pending:
    mid: int
    qos: int
    message: Message


class MqttIngestWorker:
    def __init__(self, pipeline: IngestPipeline, settings: Settings, *, publish_accepted: bool = True) -> None:
        self.pipeline = pipeline
        self.settings = settings
        self.publish_accepted = publish_accepted
        self.queue: queue.Queue[_Pending] = queue.Queue()
        self.prepared: queue.Queue[tuple[list[_Pending], Prepared] | None] = queue.Queue(maxsize=2)
        self.stop_event = threading.Event()
        self.client = make_client(settings.mqtt_client_id, manual_ack=True)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect
        self.connected = threading.Event()
        self.committed_messages = 0

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, reason: object,
                    properties: object) -> None:
        if getattr(reason, "is_failure", False):
            log.error("MQTT connect refused: %s", reason)
            return
        root = self.settings.mqtt_topic_root
        client.subscribe([(f"{root}/+", 1), (f"{root}/+/+", 1)])
        self.connected.set()
        log.info("MQTT connected to %s:%s, subscribed to %s/#", self.settings.mqtt_host, self.settings.mqtt_port, root)

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags: object, reason: object,
                       properties: object) -> None:
        self.connected.clear()
        if not self.stop_event.is_set():
            log.warning("MQTT disconnected (%s); paho reconnects", reason)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        utility, sensor = topic_parts(msg.topic, self.settings.mqtt_topic_root)
        self.queue.put(_Pending(msg.mid, msg.qos, Message("mqtt", utility, msg.payload, msg.topic, sensor)))
        QUEUE_DEPTH.set(self.queue.qsize())

    def _drain(self) -> list[_Pending]:
        try:
            first = self.queue.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.settings.ingest_batch_wait_ms / 1000.0
        budget = self.settings.ingest_batch_max
        size = 1
        while size < budget:
            remaining = deadline - time.monotonic()
            try:
                item = self.queue.get(timeout=max(remaining, 0)) if remaining > 0 else self.queue.get_nowait()
            except queue.Empty:
                break
            batch.append(item)
            size += 1
        return batch

    def _prepare_loop(self) -> None:
        """Parse and validate batch N+1 while batch N commits (the database wait releases the GIL)."""
        while not self.stop_event.is_set() or not self.queue.empty():
            batch = self._drain()
            if batch:
                self.prepared.put((batch, self.pipeline.prepare([p.message for p in batch])))
        self.prepared.put(None)

    def _commit_loop(self) -> None:
        while True:
            item = self.prepared.get()
            if item is None:
                return
            batch, prepared = item
            while True:
                try:
                    result = self.pipeline.commit(prepared)
                    break
                except Exception:  # the database is down: keep the batch, do not ack, retry
                    log.exception("batch of %d messages not committed; retrying in 1s", len(batch))
                    if self.stop_event.wait(1.0):
                        return  # unacked: the broker redelivers after restart
            for p in batch:
                if p.qos > 0:
                    self.client.ack(p.mid, p.qos)
            self.committed_messages += len(batch)
            QUEUE_DEPTH.set(self.queue.qsize())
            if self.publish_accepted and result.readings:
                self.client.publish(accepted_topic(self.settings.mqtt_topic_root), encode_accepted(result.readings), qos=1)

    def run(self, *, install_signals: bool = True) -> None:
        if install_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: self.stop_event.set())
        preparer = threading.Thread(target=self._prepare_loop, name="ingest-prepare", daemon=True)
        writer = threading.Thread(target=self._commit_loop, name="ingest-commit", daemon=True)
        preparer.start()
        writer.start()
        self.client.connect(self.settings.mqtt_host, self.settings.mqtt_port, keepalive=30, clean_start=False,
                            properties=connect_properties())
        self.client.loop_start()
        log.info("ingest worker running (batch max %d, wait %d ms)", self.settings.ingest_batch_max,
                 self.settings.ingest_batch_wait_ms)
        try:
            while not self.stop_event.wait(0.5):
                pass
        finally:
            preparer.join(timeout=30)
            writer.join(timeout=30)
            self.client.disconnect()
            self.client.loop_stop()
            log.info("ingest worker stopped after %d messages", self.committed_messages)


def run_worker(settings: Settings, *, metrics_port: int | None = None) -> None:
    from resilience.store.db import make_engine

    engine = make_engine(settings.database_url)
    if metrics_port:
        start_http_server(metrics_port, addr="127.0.0.1")
    MqttIngestWorker(IngestPipeline(engine, settings), settings).run()
