"""The MQTT ingest worker: QoS 1, persistent session, acknowledged only after commit.

paho's network thread only enqueues messages; a prepare thread parses and validates batch N+1 while
a commit thread stores batch N through ``IngestPipeline`` (readings, dead letters and the hand-off to
detection in one transaction) and then acknowledges each message (``manual_ack``). If the worker dies
before the commit, the broker still holds the unacknowledged messages for our persistent session and
redelivers them on reconnect; if it dies after the commit but before the ack, the redelivered readings
hit ``ON CONFLICT DO NOTHING`` and hand nothing on twice. Either way every accepted reading is stored,
and scored, exactly once.

A database outage holds the batch (unacknowledged) and retries with backoff; a message the database
refuses is parked by the pipeline. A worker thread that dies for any other reason takes the process
down (exit code 70), so the supervisor restarts it instead of leaving a process that receives and
never commits.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from prometheus_client import Gauge

from ingest.pipeline import QUEUE_DEPTH, IngestPipeline, Message, Prepared
from resilience.ops.health import HeartbeatThread, utcnow
from resilience.ops.broker_accounts import Credentials, service_credentials
from resilience.core.settings import Settings
from resilience.store.db import StoreBackoff, is_transient
from resilience.store.heartbeats import Heartbeat

log = logging.getLogger(__name__)
SESSION_EXPIRY_S = 7 * 24 * 3600
EXIT_THREAD_DIED = 70
OLDEST_PENDING = Gauge("lifeline_ingest_oldest_pending_seconds", "Age of the oldest message received, not committed")
LAST_COMMIT = Gauge("lifeline_ingest_last_commit_timestamp", "Unix time of the last committed batch")


def topic_parts(topic: str, root: str) -> tuple[str | None, str | None, str | None]:
    """``root/<utility>`` or ``root/<utility>/<sensor_id>`` -> (utility, sensor, error). Fails closed:
    an empty level, a deeper topic or another root is an error with a reason, never an unowned reading."""
    parts = topic.split("/")
    if parts[0] != root or len(parts) not in (2, 3):
        return None, None, f"topic {topic[:200]!r} is not {root}/<utility> or {root}/<utility>/<sensor>"
    if any(not p or p.strip() != p for p in parts[1:]):
        return None, None, f"topic {topic[:200]!r} has an empty or padded level"
    return parts[1], (parts[2] if len(parts) == 3 else None), None


def subscription_filters(settings: Settings) -> tuple[str, str | None]:
    """(the filter to subscribe, the filter a persistent session may still hold from the other mode).

    With a shared group every ingest instance subscribes ``$share/<group>/<root>/#`` and the broker gives
    each message to one of them; the ACL's ``<root>/#`` covers it. A session that switched mode drops its
    old filter, else it would receive every message twice."""
    plain = f"{settings.mqtt_topic_root}/#"
    shared = f"$share/{settings.mqtt_shared_group}/{plain}"
    wanted = settings.mqtt_shared_subscription
    if wanted is None:
        wanted = settings.instance is not None  # copies share the stream; a lone worker keeps its own
    return (shared, plain) if wanted else (plain, shared)


def make_client(
    client_id: str, *, clean_start: bool = False, manual_ack: bool = False, credentials: Credentials | None = None
) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, manual_ack=manual_ack)
    if credentials is not None:
        client.username_pw_set(credentials.username, credentials.password)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    return client


def connect_properties(receive_maximum: int = 1000) -> Properties:
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho's constructor is unannotated
    props.SessionExpiryInterval = SESSION_EXPIRY_S
    props.ReceiveMaximum = receive_maximum
    return props


def fatal_on_exception(target: Callable[[], None], name: str) -> Callable[[], None]:
    """Run ``target``; if it raises, log and end the whole process (a supervisor restarts it)."""

    def run() -> None:
        try:
            target()
        except BaseException:  # noqa: BLE001 - a dead worker thread must not leave a live, useless process
            log.critical("worker thread %s died; exiting so the supervisor restarts the worker", name, exc_info=True)
            logging.shutdown()
            os._exit(EXIT_THREAD_DIED)

    return run


@dataclass(frozen=True, slots=True)
class _Pending:
    mid: int
    qos: int
    message: Message
    received: float  # time.monotonic() at receipt


class MqttIngestWorker:
    def __init__(self, pipeline: IngestPipeline, settings: Settings) -> None:
        self.pipeline = pipeline
        self.settings = settings
        self.queue: queue.Queue[_Pending] = queue.Queue()
        self.prepared: queue.Queue[tuple[list[_Pending], Prepared] | None] = queue.Queue(maxsize=2)
        self.stop_event = threading.Event()
        self.client = make_client(
            settings.ingest_client_id, manual_ack=True, credentials=service_credentials(settings, "ingest")
        )
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect
        self.connected = threading.Event()
        self.disconnected_at: float | None = time.monotonic()
        self.committed_messages = 0
        self.last_commit = utcnow()
        self._in_stage: dict[str, float] = {}  # stage -> receipt time of its oldest message
        self.store = StoreBackoff()

    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: object, properties: object
    ) -> None:
        if getattr(reason, "is_failure", False):
            log.error("MQTT connect refused: %s", reason)
            return
        # everything under the root, so a topic of the wrong shape (too deep, an empty level) is received and
        # dead-lettered with its reason: with no subscriber the broker would PUBACK it and drop it unseen
        subscribe, drop = subscription_filters(self.settings)
        if drop is not None:  # a persistent session keeps its old filter: both would deliver every message
            client.unsubscribe(drop)
        client.subscribe([(subscribe, 1)])
        self.connected.set()
        self.disconnected_at = None
        log.info(
            "MQTT connected to %s:%s as %s, subscribed to %s",
            self.settings.mqtt_host,
            self.settings.mqtt_port,
            self.settings.ingest_client_id,
            subscribe,
        )

    def _on_disconnect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: object, properties: object
    ) -> None:
        self.connected.clear()
        self.disconnected_at = time.monotonic()
        if not self.stop_event.is_set():
            log.warning("MQTT disconnected (%s); paho reconnects", reason)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        try:
            topic = msg.topic
        except UnicodeDecodeError:  # paho decodes topics as UTF-8 on access
            topic = msg._topic.decode("utf-8", "replace")
        utility, sensor, error = topic_parts(topic, self.settings.mqtt_topic_root)
        message = Message("mqtt", utility, bytes(msg.payload), topic, sensor, topic_error=error)
        self.queue.put(_Pending(msg.mid, msg.qos, message, time.monotonic()))
        QUEUE_DEPTH.set(self.queue.qsize())

    def _drain(self) -> list[_Pending]:
        try:
            first = self.queue.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.settings.ingest_batch_wait_ms / 1000.0
        while len(batch) < self.settings.ingest_batch_max:
            remaining = deadline - time.monotonic()
            try:
                item = self.queue.get(timeout=max(remaining, 0)) if remaining > 0 else self.queue.get_nowait()
            except queue.Empty:
                break
            batch.append(item)
        return batch

    def _prepare_loop(self) -> None:
        """Parse and validate batch N+1 while batch N commits (the database wait releases the GIL)."""
        while not self.stop_event.is_set() or not self.queue.empty():
            batch = self._drain()
            if not batch:
                continue
            self._in_stage["prepare"] = batch[0].received
            while True:
                try:
                    prepared = self.pipeline.prepare([p.message for p in batch])
                    break
                except Exception as exc:
                    if not is_transient(exc):
                        raise
                    log.warning("registry unavailable; batch of %d waits", len(batch), exc_info=True)
                    if self.stop_event.wait(self.store.failed()):
                        self.prepared.put(None)
                        return  # unacked: redelivered after restart
            self.prepared.put((batch, prepared))
            self._in_stage.pop("prepare", None)
        self.prepared.put(None)

    def _commit_loop(self) -> None:
        while True:
            item = self.prepared.get()
            if item is None:
                return
            batch, prepared = item
            self._in_stage["commit"] = batch[0].received
            if not self._commit_with_retry(batch, prepared):
                return  # stopping during an outage: unacked, the broker redelivers after restart
            for p in batch:
                if p.qos > 0:
                    self.client.ack(p.mid, p.qos)
            self._in_stage.pop("commit", None)
            self.committed_messages += len(batch)
            self.last_commit = utcnow()
            LAST_COMMIT.set(time.time())
            QUEUE_DEPTH.set(self.queue.qsize())

    def _commit_with_retry(self, batch: list[_Pending], prepared: Prepared) -> bool:
        """Commit, holding the batch through a store outage (bounded backoff); False if stopped meanwhile."""
        while True:
            try:
                self.pipeline.commit(prepared)
                self.store.ok()
                return True
            except Exception as exc:
                if not is_transient(exc):
                    raise
                delay = self.store.failed()
                log.warning(
                    "batch of %d messages not committed (store unavailable); retrying in %.1f s", len(batch), delay
                )
                if self.stop_event.wait(delay):
                    return False

    def oldest_pending_s(self) -> float:
        now = time.monotonic()
        times = list(self._in_stage.values())
        with self.queue.mutex:
            if self.queue.queue:
                times.append(self.queue.queue[0].received)
        age = now - min(times) if times else 0.0
        OLDEST_PENDING.set(age)
        return age

    def heartbeat(self) -> Heartbeat:
        disconnected = 0.0 if self.disconnected_at is None else time.monotonic() - self.disconnected_at
        return Heartbeat(
            self.settings.ingest_client_id,
            "ingest",
            utcnow(),
            self.last_commit,
            self.queue.qsize(),
            self.oldest_pending_s(),
            {
                "committed_messages": self.committed_messages,
                "disconnected_s": round(disconnected, 1),
                "store_down_s": round(self.store.down_s(), 1),
            },
        )

    def run(self, *, install_signals: bool = True) -> None:
        if install_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: self.stop_event.set())
        preparer = threading.Thread(
            target=fatal_on_exception(self._prepare_loop, "prepare"), name="ingest-prepare", daemon=True
        )
        writer = threading.Thread(
            target=fatal_on_exception(self._commit_loop, "commit"), name="ingest-commit", daemon=True
        )
        beats = HeartbeatThread(
            self.pipeline.engine, self.settings.ingest_client_id, "ingest", self.heartbeat, self.stop_event
        ).start()
        preparer.start()
        writer.start()
        self.client.connect_async(
            self.settings.mqtt_host,
            self.settings.mqtt_port,
            keepalive=30,
            clean_start=False,
            properties=connect_properties(),
        )
        self.client.loop_start()
        log.info(
            "ingest worker running (batch max %d, wait %d ms)",
            self.settings.ingest_batch_max,
            self.settings.ingest_batch_wait_ms,
        )
        try:
            while not self.stop_event.wait(0.5):
                pass
        finally:
            preparer.join(timeout=30)
            writer.join(timeout=30)
            self.client.disconnect()
            self.client.loop_stop()
            beats.retire()
            log.info("ingest worker stopped after %d messages", self.committed_messages)


def build_worker(settings: Settings) -> MqttIngestWorker:
    """The worker on its own engine, not yet running (its process serves metrics, then calls ``run``)."""
    from resilience.store.db import make_engine

    return MqttIngestWorker(IngestPipeline(make_engine(settings.database_url), settings), settings)
