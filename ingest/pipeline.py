"""The ingestion pipeline shared by MQTT and HTTP: parse -> validate -> store readings, dead letters and
the hand-off to detection, in one transaction.

A message is either fully accounted for or not at all (and then redelivered): its accepted readings,
its dead letters and the hand-off of the readings actually stored (``resilience.store.handoff``) commit
together. Nothing a sender can put in a message escapes as an exception: a message that cannot be read
becomes a dead letter with a reason. A batch the database refuses for its content (not for an outage)
is split in halves until the one refused message is found; that message is parked as a dead letter and
the rest lands, so a poison message can never make the same batch retry forever.
"""

from __future__ import annotations

import logging
import time
from collections import Counter as Tally
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter

from prometheus_client import Counter, Gauge, Histogram

from ingest.deadletter import dead_letter_row
from ingest.parser import PayloadError, Rejection, parse_payload
from ingest.sensor_cache import SensorRegistry
from ingest.validate import ValidationLimits, validate
from resilience.core.domain import Reading
from resilience.core.settings import Settings
from resilience.store.dead_letters import insert_dead_letters
from resilience.store.db import Connection, Engine, is_transient
from resilience.store.handoff import hand_off
from resilience.store.readings import insert_new_readings
from resilience.store.timeseries import TimeSeriesBackend, get_backend

log = logging.getLogger(__name__)
_TS = attrgetter("ts")

INGESTED = Counter("lifeline_ingest_readings_total", "Readings accepted and committed", ["transport"])
REJECTED = Counter(
    "lifeline_ingest_rejected_total", "Readings or payloads sent to the dead-letter table", ["transport", "reason"]
)
DUPLICATES = Counter(
    "lifeline_ingest_duplicate_readings_total",
    "Valid readings already stored (a resend): nothing new stored",
    ["transport"],
)
REFUSED = Counter(
    "lifeline_ingest_refused_messages_total",
    "Messages the database refused for their content, parked as dead letters after bisection",
)
BATCH_SECONDS = Histogram(
    "lifeline_ingest_batch_seconds",
    "Time to validate and commit one batch",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
QUEUE_DEPTH = Gauge("lifeline_ingest_queue_depth", "Messages received but not yet committed")


@dataclass(frozen=True, slots=True)
class Message:
    """One payload as received: ``topic_sensor`` is the sensor named by a per-sensor topic, if any."""

    transport: str
    utility_id: str | None
    payload: bytes
    topic: str | None = None
    topic_sensor: str | None = None
    topic_error: str | None = None  # the topic could not be read: the message is rejected, never unowned


@dataclass
class MessageResult:
    """What became of one message: ``accepted`` valid readings (after the commit: newly stored), of which
    ``duplicates`` were already stored (or repeated in the batch) and so stored nothing, and the rejections.
    ``earliest``/``latest`` are the readings' resolved times (SenML's relative times made absolute)."""

    accepted: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    duplicates: int = 0
    earliest: datetime | None = None
    latest: datetime | None = None


@dataclass
class PreparedMessage:
    """One message parsed and validated: what it would store, and its dead-letter rows."""

    message: Message
    readings: list[Reading]
    letters: list[dict[str, object]]
    result: MessageResult
    committed: bool = False


@dataclass
class Prepared:
    items: list[PreparedMessage]
    started: float

    @property
    def messages(self) -> list[Message]:
        return [p.message for p in self.items]


@dataclass
class BatchResult:
    messages: list[MessageResult]
    readings: list[Reading]  # the readings this batch newly stored (and handed to detection)
    inserted: int
    seconds: float


def _text(payload: bytes) -> str:
    return payload.decode("utf-8", "replace")


#: bounded labels of ``lifeline_ingest_rejected_total``: the first of these a reason contains, else "other"
REASON_CLASSES = (
    "malformed JSON",
    "unknown sensor",
    "another utility",
    "NaN",
    "wrong unit",
    "future",
    "retention",
    "oversize",
    "not a number",
    "bad time",
    "decommissioned",
    "refused by the database",
    "digits",
    "nested",
    "too many records",
    "longer than 64",
    "surrogate",
    "out of range",
    "topic",
)


def _label(key: str) -> str:
    return key.replace(" ", "_").lower()


def _reason_class(reason: str) -> str:
    """A short, bounded label for metrics (the full reason goes to the dead-letter row)."""
    for key in REASON_CLASSES:
        if key in reason:
            return _label(key)
    return "other"


def preset_metrics(transport: str) -> None:
    """Every series a transport's counters can have, at 0 from the start (so ``rate()`` sees the first)."""
    INGESTED.labels(transport)
    DUPLICATES.labels(transport)
    for key in (*REASON_CLASSES, "other"):
        REJECTED.labels(transport, _label(key))


class IngestPipeline:
    def __init__(self, engine: Engine, settings: Settings, *, registry: SensorRegistry | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.registry = registry or SensorRegistry(engine, max_age_s=settings.registry_max_age_s)
        self.limits = ValidationLimits(settings.ingest_max_future_s, settings.retention_days)
        self._backend: TimeSeriesBackend | None = None

    @property
    def backend(self) -> TimeSeriesBackend:
        if self._backend is None:
            with self.engine.connect() as conn:
                self._backend = get_backend(conn, retention_days=self.settings.retention_days)
        return self._backend

    def _parse_and_validate(self, msg: Message, now: float) -> tuple[list[Reading], MessageResult]:
        result = MessageResult()
        if msg.topic_error is not None:
            result.rejections.append(Rejection(msg.topic_error, _text(msg.payload)))
            return [], result
        cap = self.settings.ingest_max_payload_bytes
        if len(msg.payload) > cap:
            result.rejections.append(
                Rejection(f"oversize payload: {len(msg.payload)} bytes > cap {cap}", _text(msg.payload))
            )
            return [], result
        try:
            records, rejections = parse_payload(msg.payload, topic_sensor=msg.topic_sensor, now=now)
        except PayloadError as exc:
            result.rejections.append(Rejection(str(exc), _text(msg.payload)))
            return [], result
        readings, invalid = validate(
            records, utility_id=msg.utility_id, registry=self.registry, limits=self.limits, now=now
        )
        result.rejections = rejections + invalid
        result.accepted = len(readings)
        if readings:
            times = list(map(_TS, readings))
            result.earliest = min(times)
            result.latest = max(times)
        return readings, result

    def _prepare_one(self, msg: Message, now: float) -> PreparedMessage:
        try:
            readings, result = self._parse_and_validate(msg, now)
        except Exception as exc:  # noqa: BLE001 - one message must never stop the stream
            if is_transient(exc):
                raise  # the registry could not be read: the batch waits, nothing is judged on a guess
            log.exception("message from %s could not be processed; dead-lettered", msg.utility_id)
            readings, result = (
                [],
                MessageResult(
                    0,
                    [
                        Rejection(
                            f"message could not be processed: {type(exc).__name__}: {str(exc)[:200]}",
                            _text(msg.payload),
                        )
                    ],
                ),
            )
        letters = [
            dead_letter_row(
                transport=msg.transport,
                utility_id=msg.utility_id,
                topic=msg.topic,
                sensor_id=rej.sensor_id,
                reason=rej.reason,
                fragment=rej.fragment,
            )
            for rej in result.rejections
        ]
        return PreparedMessage(msg, readings, letters, result)

    def prepare(self, messages: Sequence[Message]) -> Prepared:
        """Parse and validate a batch (CPU only; no writes), ready for ``commit``.

        Raises only for a transient store error (the registry cache could not refresh): retry later.
        """
        now = time.time()
        return Prepared([self._prepare_one(msg, now) for msg in messages], time.perf_counter())

    def _asset_of(self, sensor_id: str) -> str | None:
        """The sensor's asset (its detector shard follows the asset); None if the registry does not know it."""
        info = self.registry.snapshot().get(sensor_id)
        return info.asset_id or None if info else None

    def _write(self, conn: Connection, items: Sequence[PreparedMessage]) -> list[Reading]:
        readings = [r for p in items for r in p.readings]
        letters = [row for p in items for row in p.letters]
        stored = insert_new_readings(conn, readings, self.backend)
        insert_dead_letters(conn, letters)
        transport = items[0].message.transport if items else "none"
        hand_off(conn, stored, transport=transport, shards=self.settings.detection_shards, asset_of=self._asset_of)
        return list(stored)

    def _commit_items(self, items: list[PreparedMessage]) -> list[Reading]:
        """Commit ``items`` in one transaction, or bisect if the database refuses their content."""
        try:
            with self.engine.begin() as conn:
                stored = self._write(conn, items)
        except Exception as exc:
            if is_transient(exc):
                raise
            if len(items) > 1:
                mid = len(items) // 2
                return self._commit_items(items[:mid]) + self._commit_items(items[mid:])
            self._park(items[0], exc)
            return []
        for p in items:
            p.committed = True
        return stored

    def _park(self, item: PreparedMessage, exc: Exception) -> None:
        """The database refused this one message: store it as one dead letter (sanitised) instead."""
        msg = item.message
        REFUSED.inc()
        log.error("message refused by the database (%s); parked as a dead letter", type(exc).__name__)
        item.readings = []
        item.letters = [
            dead_letter_row(
                transport=msg.transport,
                utility_id=msg.utility_id,
                topic=msg.topic,
                sensor_id=None,
                fragment=msg.payload,
                reason=f"refused by the database: {type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:300] if str(exc) else ''}",
            )
        ]
        item.result = MessageResult(0, [Rejection(str(item.letters[0]["reason"]), _text(msg.payload))])
        try:
            with self.engine.begin() as conn:
                insert_dead_letters(conn, item.letters)
        except Exception as again:
            if is_transient(again):
                raise
            log.exception("dead letter refused too; message dropped after logging")
        item.committed = True

    def commit(self, prepared: Prepared) -> BatchResult:
        """Store a prepared batch (messages already committed by an earlier, partial try are skipped).

        Raises only for a transient store error (an outage): nothing of what remains was committed; retry.
        """
        pending = [p for p in prepared.items if not p.committed]
        stored = self._commit_items(pending) if pending else []
        _count_stored(pending, stored)
        elapsed = time.perf_counter() - prepared.started
        BATCH_SECONDS.observe(elapsed)
        transport = prepared.items[0].message.transport if prepared.items else "none"
        if stored:
            INGESTED.labels(transport).inc(len(stored))
        repeated = sum(p.result.duplicates for p in pending)
        if repeated:
            DUPLICATES.labels(transport).inc(repeated)
        letters = [row for p in pending for row in p.letters]
        for letter in letters:
            REJECTED.labels(letter["transport"], _reason_class(str(letter["reason"]))).inc()
        if letters:
            log.info("dead-lettered %d records", len(letters), extra={"rejected": len(letters)})
        return BatchResult([p.result for p in prepared.items], stored, len(stored), elapsed)

    def ingest(self, messages: Sequence[Message]) -> BatchResult:
        """Validate and commit a batch; returns per-message outcomes (in order) once committed."""
        return self.commit(self.prepare(messages))


def _count_stored(items: Sequence[PreparedMessage], stored: Sequence[Reading]) -> None:
    """Split each message's valid readings into newly stored and duplicates: a key stored once counts for the
    first message (in order) that carried it, so a reply never says more was stored than was. When as many
    were stored as offered, every one was new (what is stored is a subset of what was offered), so no
    key is counted."""
    if len(stored) == sum(len(item.readings) for item in items):
        for item in items:
            item.result.duplicates = 0
            item.result.accepted = len(item.readings)
        return
    left = Tally((r.sensor_id, r.ts) for r in stored)
    for item in items:
        new = 0
        for r in item.readings:
            key = (r.sensor_id, r.ts)
            if left[key] > 0:
                left[key] -= 1
                new += 1
        item.result.duplicates = len(item.readings) - new
        item.result.accepted = new
