"""The ingestion pipeline shared by MQTT and HTTP: parse -> validate -> write readings and dead letters.

A batch of messages is handled in one transaction: every accepted reading and every dead letter
commits together, so a message is either fully accounted for or not at all (and then redelivered).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import Engine, insert

from ingest.parser import PayloadError, Rejection, parse_payload
from ingest.sensor_cache import SensorRegistry
from ingest.validate import ValidationLimits, validate
from resilience.domain import Reading
from resilience.settings import Settings
from resilience.store.readings import write_readings
from resilience.store.schema import dead_letters
from resilience.store.timeseries import TimeSeriesBackend, get_backend

log = logging.getLogger(__name__)

INGESTED = Counter("lifeline_ingest_readings_total", "Readings accepted and committed", ["transport"])
REJECTED = Counter("lifeline_ingest_rejected_total", "Readings or payloads sent to the dead-letter table",
                   ["transport", "reason"])
BATCH_SECONDS = Histogram("lifeline_ingest_batch_seconds", "Time to validate and commit one batch",
                          buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
QUEUE_DEPTH = Gauge("lifeline_ingest_queue_depth", "Messages received but not yet committed")


@dataclass(frozen=True, slots=True)
class Message:
    """One payload as received: ``topic_sensor`` is the sensor named by a per-sensor topic, if any."""

    transport: str
    utility_id: str | None
    payload: bytes
    topic: str | None = None
    topic_sensor: str | None = None


@dataclass
class MessageResult:
    accepted: int = 0
    rejections: list[Rejection] = field(default_factory=list)


@dataclass
class Prepared:
    messages: list[Message]
    readings: list[Reading]
    results: list[MessageResult]
    letters: list[dict[str, object]]
    started: float


@dataclass
class BatchResult:
    messages: list[MessageResult]
    readings: list[Reading]
    inserted: int
    seconds: float


def _reason_class(reason: str) -> str:
    """A short, bounded label for metrics (the full reason goes to the dead-letter row)."""
    for key in ("malformed JSON", "unknown sensor", "another utility", "NaN", "wrong unit", "future", "retention",
                "oversize", "not a number", "bad time", "decommissioned"):
        if key in reason:
            return key.replace(" ", "_").lower()
    return "other"


class IngestPipeline:
    def __init__(self, engine: Engine, settings: Settings, *, registry: SensorRegistry | None = None,
                 on_committed: Callable[[list[Reading]], None] | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.registry = registry or SensorRegistry(engine)
        self.limits = ValidationLimits(settings.ingest_max_future_s, settings.retention_days)
        self.on_committed = on_committed
        self._backend: TimeSeriesBackend | None = None

    @property
    def backend(self) -> TimeSeriesBackend:
        if self._backend is None:
            with self.engine.connect() as conn:
                self._backend = get_backend(conn, retention_days=self.settings.retention_days)
        return self._backend

    def _process(self, msg: Message, now: float) -> tuple[list[Reading], MessageResult]:
        result = MessageResult()
        cap = self.settings.ingest_max_payload_bytes
        if len(msg.payload) > cap:
            result.rejections.append(Rejection(f"oversize payload: {len(msg.payload)} bytes > cap {cap}",
                                               msg.payload.decode("utf-8", "replace")))
            return [], result
        try:
            records, rejections = parse_payload(msg.payload, topic_sensor=msg.topic_sensor, now=now)
        except PayloadError as exc:
            result.rejections.append(Rejection(str(exc), msg.payload.decode("utf-8", "replace")))
            return [], result
        readings, invalid = validate(records, utility_id=msg.utility_id, registry=self.registry, limits=self.limits,
                                     now=now)
        result.rejections = rejections + invalid
        result.accepted = len(readings)
        return readings, result

    def prepare(self, messages: Sequence[Message]) -> Prepared:
        """Parse and validate a batch (CPU only; no database writes), ready for ``commit``."""
        now = time.time()
        prepared = Prepared(list(messages), [], [], [], time.perf_counter())
        for msg in messages:
            accepted, res = self._process(msg, now)
            prepared.readings.extend(accepted)
            prepared.results.append(res)
            for rej in res.rejections:
                fragment = rej.fragment if isinstance(rej.fragment, str) else json.dumps(rej.fragment, default=str)
                prepared.letters.append({"transport": msg.transport, "utility_id": msg.utility_id, "topic": msg.topic,
                                         "sensor_id": rej.sensor_id, "reason": rej.reason, "payload": fragment})
        return prepared

    def commit(self, prepared: Prepared) -> BatchResult:
        """Write readings and dead letters of a prepared batch in one transaction."""
        readings, letters = prepared.readings, prepared.letters
        with self.engine.begin() as conn:
            inserted = write_readings(conn, readings, self.backend)
            if letters:
                conn.execute(insert(dead_letters), letters)
        elapsed = time.perf_counter() - prepared.started
        BATCH_SECONDS.observe(elapsed)
        transport = prepared.messages[0].transport if prepared.messages else "none"
        if readings:
            INGESTED.labels(transport).inc(len(readings))
        for letter in letters:
            REJECTED.labels(letter["transport"], _reason_class(str(letter["reason"]))).inc()
        if letters:
            log.info("dead-lettered %d records", len(letters), extra={"rejected": len(letters)})
        if self.on_committed and readings:
            self.on_committed(readings)
        return BatchResult(prepared.results, readings, inserted, elapsed)

    def ingest(self, messages: Sequence[Message]) -> BatchResult:
        """Validate and commit a batch; returns per-message outcomes (in order) once committed."""
        return self.commit(self.prepare(messages))
