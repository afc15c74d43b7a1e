"""The detection worker: committed readings in, anomaly and sensor-health events out.

It subscribes (QoS 1, persistent session, manual ack) to ``internal/<root>/accepted``, where the ingest worker
republishes every committed batch. Events of a batch are written to the durable event log and the
``anomalies`` table in one transaction, and only then is the message acknowledged. Detector state is
snapshotted to ``detector_snapshots`` every minute and restored on start, so a restart neither forgets
baselines nor re-opens anomalies. Silence is checked by an APScheduler job every 30 s.
"""

from __future__ import annotations

import json
import logging
import queue
import signal
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from ingest.mqtt_worker import accepted_topic, connect_properties, make_client
from resilience.clock import DataClock
from resilience.detection.asset_models import AssetModelScorer, load_latest_models
from resilience.detection.engine import DetectionEngine
from resilience.domain import Reading
from resilience.events import AnomalyEvent, AnomalyPhase, Event
from resilience.settings import Settings
from resilience.store.eventlog import PgEventLog
from resilience.store.schema import anomalies, detector_snapshots
from resilience.workers.catalogue import load_catalogue

log = logging.getLogger(__name__)
SNAPSHOT_NAME = "detection-engine"


class CollectingBus:
    """Collects events during a batch; the worker persists them together with its acknowledgement."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def publish(self, event: Event) -> None:
        self.events.append(event)

    def subscribe(self, kind: Any, handler: Any) -> None:  # pragma: no cover - not used
        raise NotImplementedError

    def drain(self) -> list[Event]:
        out, self.events = self.events, []
        return out


def decode_accepted(payload: bytes) -> list[Reading]:
    doc = json.loads(payload)
    return [Reading(s, datetime.fromtimestamp(t, UTC), float(v)) for s, t, v in doc["r"]]


def persist_events(conn: Connection, log_: PgEventLog, events: list[Event]) -> None:
    """Anomaly rows (one per anomaly, updated through its lifecycle) and the event log, in the caller's txn."""
    for e in events:
        if not isinstance(e, AnomalyEvent):
            continue
        row = {"id": e.anomaly_id, "sensor_id": e.sensor_id, "asset_id": e.asset_id, "sensor_kind": e.sensor_kind,
               "detector": e.detector, "start": e.start, "end": e.end, "last_ts": e.ts, "peak_score": e.peak_score,
               "level": int(e.level), "last_value": e.value, "explanation": e.explanation}
        stmt = pg_insert(anomalies).values(**row)
        update = {"last_ts": e.ts, "peak_score": e.peak_score, "level": int(e.level), "last_value": e.value,
                  "explanation": e.explanation}
        if e.phase is AnomalyPhase.CLOSE:
            update["end"] = e.end or e.ts
        conn.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=update))
    log_.publish_many(events, conn=conn)


SILENCE_STEP = timedelta(seconds=10)  # data time between silence checks made while processing


class DetectionWorker:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.db = engine
        self.settings = settings
        self.bus = CollectingBus()
        self.eventlog = PgEventLog(engine)
        with engine.connect() as conn:
            self.catalogue = load_catalogue(conn)
            snap = conn.execute(select(detector_snapshots.c.state).where(detector_snapshots.c.name == SNAPSHOT_NAME)
                                ).scalar()
        self.engine = DetectionEngine(self.catalogue, self.bus, silence_k=settings.silence_k,
                                      silence_feed_lag_s=settings.silence_feed_lag_s,
                                      overrides={k: v.detector_overrides for k, v in self.catalogue.items()
                                                 if v.detector_overrides})
        if snap:
            try:
                self.engine.restore(snap)
                log.info("detector state restored (%d sensors)", len(self.engine.ensembles))
                # Downtime is the platform's silence, not the sensors': every sensor gets a fresh window.
                now = datetime.now(UTC)
                self.engine.silence.started = now
                self.engine.silence.last_seen = {k: max(v, now) for k, v in self.engine.silence.last_seen.items()}
            except Exception:  # noqa: BLE001 - a stale snapshot must not stop detection
                log.exception("detector snapshot could not be restored; starting fresh")
        with engine.connect() as conn:
            models = load_latest_models(conn)
        self.asset_models = AssetModelScorer(models, {k: v.kind for k, v in self.catalogue.items()})
        log.info("asset models loaded: %d", len(models))
        self.clock = DataClock()  # silence and asset-model jobs follow data time (replays, accelerated runs)
        self.lock = threading.Lock()
        self.silence_checked: datetime | None = None
        self.inbox: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.stop_event = threading.Event()
        self.client = make_client(f"{settings.mqtt_client_id}-detector", manual_ack=True)
        self.client.on_connect = lambda c, *a: c.subscribe(accepted_topic(settings.mqtt_topic_root), qos=1)
        self.client.on_message = lambda c, u, m: self.inbox.put(m)

    def refresh_catalogue(self) -> None:
        with self.db.connect() as conn:
            fresh = load_catalogue(conn)
        with self.lock:
            self.catalogue.update(fresh)

    def handle(self, readings: list[Reading]) -> list[Event]:
        with self.lock:
            self.engine.process([r for r in readings if r.sensor_id in self.catalogue])
            # The clock moves with data *processed*, under the same lock as the silence check: a batch that
            # has arrived but waits (behind a snapshot) must not make its own sensors look silent.
            if readings:
                self.clock.observe(max(r.ts for r in readings))
                self._check_silence_on_data_time()
            events = self.bus.drain()
            for r in readings:
                self.asset_models.observe(r.sensor_id, r.value)
        if events:
            with self.db.begin() as conn:
                persist_events(conn, self.eventlog, events)
        return events

    def _check_silence_on_data_time(self) -> None:
        """Also check silence as data time passes (every ``SILENCE_STEP`` of it), under the processing lock.

        The scheduled job alone can starve behind a busy processing thread in an accelerated replay (one
        wall second is two simulated minutes); the job still covers a feed that has stopped altogether.
        """
        now = self.clock()
        if self.silence_checked is None or now - self.silence_checked >= SILENCE_STEP:
            self.engine.silence.check(now)
            self.silence_checked = now

    def check_silence(self) -> None:
        with self.lock:
            now = self.clock()
            self.engine.silence.check(now)
            self.silence_checked = now
            events = self.bus.drain()
        if events:
            with self.db.begin() as conn:
                persist_events(conn, self.eventlog, events)
            log.info("silence check: %d sensor-health events", len(events))

    def score_asset_models(self) -> None:
        """Every 5 minutes: the asset models on the period's means (reloaded hourly from ``ml_models``)."""
        with self.lock:
            events = self.asset_models.score(self.clock())
        if events:
            with self.db.begin() as conn:
                persist_events(conn, self.eventlog, events)

    def reload_asset_models(self) -> None:
        with self.db.connect() as conn:
            models = load_latest_models(conn)
        with self.lock:
            self.asset_models.models = models

    def snapshot(self) -> None:
        with self.lock:
            state = self.engine.snapshot()
        with self.db.begin() as conn:
            conn.execute(pg_insert(detector_snapshots).values(name=SNAPSHOT_NAME, state=state).on_conflict_do_update(
                index_elements=["name"], set_={"state": state, "saved_at": text("now()")}))

    def run(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.stop_event.set())
        jobs = BackgroundScheduler(timezone="UTC")
        jobs.add_job(self.check_silence, "interval", seconds=self.settings.silence_check_s, id="silence-check",
                     max_instances=1)
        jobs.add_job(self.snapshot, "interval", seconds=60, id="detector-snapshot", max_instances=1)
        jobs.add_job(self.refresh_catalogue, "interval", seconds=60, id="catalogue-refresh", max_instances=1)
        jobs.add_job(self.score_asset_models, "interval", seconds=300, id="asset-model-score", max_instances=1)
        jobs.add_job(self.reload_asset_models, "interval", seconds=3600, id="asset-model-reload", max_instances=1)
        jobs.start()
        self.client.connect(self.settings.mqtt_host, self.settings.mqtt_port, clean_start=False,
                            properties=connect_properties())
        self.client.loop_start()
        log.info("detection worker running on %d sensors, subscribed to %s", len(self.catalogue),
                 accepted_topic(self.settings.mqtt_topic_root))
        try:
            while not self.stop_event.is_set():
                try:
                    msg = self.inbox.get(timeout=0.5)
                except queue.Empty:
                    continue
                try:
                    events = self.handle(decode_accepted(msg.payload))
                except Exception:  # noqa: BLE001 - not acked: redelivered after restart
                    log.exception("batch not processed")
                    continue
                self.client.ack(msg.mid, msg.qos)
                if events:
                    log.info("%d detection events", len(events))
        finally:
            jobs.shutdown(wait=False)
            self.snapshot()
            self.client.disconnect()
            self.client.loop_stop()
