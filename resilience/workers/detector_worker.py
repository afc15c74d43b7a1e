"""The detection worker: committed readings in, anomaly and sensor-health events out.

It consumes the hand-off log (``reading_batches``, written by the ingest pipeline of both transports in
the transaction that stored the readings) with a gap-free cursor per shard. A batch's events, its
``anomalies`` rows and the cursor's advance commit in one transaction, so each stored reading is scored
exactly once: a failed commit is retried with the same events (the detectors' state has already
advanced and is never run twice over the same readings), and after a crash the worker restores its last
snapshot (taken with the cursor positions it matches) and replays the batches between that snapshot and
the committed cursor without publishing, which rebuilds the state the crashed worker had.

Besides each sensor's ensemble, every modelled asset's state model (:mod:`resilience.detection.asset_state`)
scores the same readings as they arrive and holds one anomaly open per abnormal asset state. Its streaming
state is in the snapshot, and newly fitted versions take over only when a snapshot is saved, so the replay
after a crash runs the versions the crashed worker ran.

Silence is judged on the platform's own progress (:class:`~resilience.detection.silent_sensors.PlatformHorizon`):
the time up to which ingest has committed what the broker gave it and this worker has drained the hand-off.
While either is behind (stopped, starved, a broker queue still to arrive) the horizon stands still and no
sensor ages into silence: the silence is the platform's, and the platform watch raises one alert for it.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from collections.abc import Sequence
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from resilience.core.clock import DataClock
from resilience.detection.asset_models import AssetModelScorer, load_latest_models
from resilience.detection.asset_state import StateModelScorer, build_monitors
from resilience.detection.protocol import score_readings
from resilience.detection.forecast_tracker import ForecastTracker
from resilience.detection.scoring import DetectionEngine
from resilience.detection.silent_sensors import PlatformHorizon
from resilience.core.domain import Reading
from resilience.core.events import AnomalyEvent, AnomalyPhase, Event, ForecastEvent
from resilience.ops.health import HeartbeatThread, ingest_horizon, ingest_stall, utcnow
from resilience.core.settings import Settings
from resilience.store import handoff
from resilience.store.anomalies import upsert_anomaly
from resilience.store.forecasts import apply_forecasts
from resilience.store.cursors import Position, advance_cursor, ensure_cursor, read_cursor, sequence
from resilience.store.db import Connection, Engine, StoreBackoff, is_transient
from resilience.store.eventlog import NotifyListener, PgEventLog, engine_url
from resilience.store.heartbeats import Heartbeat, db_now
from resilience.store.registry_snapshot import registry_cache
from resilience.store.state_parts import load_parts
from resilience.store.state_models import load_state_models, newest_versions
from resilience.workers.catalogue import catalogue_entry, catalogue_from
from resilience.workers.detector_state import HEADER_FORMAT, PartedSnapshots, TakenState

log = logging.getLogger(__name__)
SNAPSHOT_NAME = "detection-engine"
SHUTDOWN_STATEMENT_S = 5.0  # the final snapshot's statements, within the supervisor's 15 s grace period
BATCHES_PER_TXN = 20
Positions = dict[int, Position]


class CollectingBus:
    """An ``EventPublisher`` that holds a batch's events; the worker persists them with its cursor."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def publish(self, event: Event) -> None:
        self.events.append(event)

    def drain(self) -> list[Event]:
        out, self.events = self.events, []
        return out


def persist_events(conn: Connection, log_: PgEventLog, events: Sequence[Event]) -> None:
    """Anomaly rows (one per anomaly, updated through its lifecycle) and the event log, in the caller's txn."""
    for e in events:
        if not isinstance(e, AnomalyEvent):
            continue
        row = {
            "id": e.anomaly_id,
            "sensor_id": e.sensor_id,
            "asset_id": e.asset_id,
            "sensor_kind": e.sensor_kind,
            "detector": e.detector,
            "start": e.start,
            "end": e.end,
            "last_ts": e.ts,
            "peak_score": e.peak_score,
            "level": int(e.level),
            "last_value": e.value,
            "explanation": e.explanation,
        }
        update = {
            "last_ts": e.ts,
            "peak_score": e.peak_score,
            "level": int(e.level),
            "last_value": e.value,
            "explanation": e.explanation,
        }
        if e.phase is AnomalyPhase.CLOSE:
            update["end"] = e.end or e.ts
        upsert_anomaly(conn, row, on_update=update)
    apply_forecasts(conn, (e for e in events if isinstance(e, ForecastEvent)))  # the projections in force
    log_.publish_many(list(events), conn=conn)


SILENCE_STEP_S = 10.0  # data time between silence checks made while processing
PLATFORM_CHECK_S = 5.0  # how often the worker reads the ingest heartbeats and its own backlog


class DetectionWorker:
    def __init__(self, engine: Engine, settings: Settings, *, shards: list[int] | None = None) -> None:
        self.db = engine
        self.settings = settings
        self.shards = shards if shards is not None else list(range(settings.detection_shards))
        self.name = "detector/" + "-".join(str(s) for s in self.shards)
        self.bus = CollectingBus()
        self.eventlog = PgEventLog(engine)
        self.registry = registry_cache(engine, max_age_s=settings.registry_max_age_s)
        known = self.registry.current()
        self.catalogue = catalogue_from(known)
        self.catalogue_digest = known.digest  # the registry the catalogue last took in
        self.engine = DetectionEngine(
            self.catalogue,
            self.bus,
            silence_k=settings.silence_k,
            silence_feed_lag_s=settings.silence_feed_lag_s,
            overrides={k: v.detector_overrides for k, v in self.catalogue.items() if v.detector_overrides},
        )
        with engine.connect() as conn:
            models = load_latest_models(conn)
        self.asset_models = AssetModelScorer(models, {k: v.kind for k, v in self.catalogue.items()})
        self.forecasts = ForecastTracker(self.catalogue, self.bus.publish)  # warning before the limit
        log.info("asset models loaded: %d", len(models))
        self.kinds = {k: v.kind for k, v in self.catalogue.items()}
        self.state_models = StateModelScorer({})  # set by _restore: the versions the snapshot ran, then the newest
        self.clock = DataClock()  # silence and asset-model jobs follow data time (replays, accelerated runs)
        self.lock = threading.Lock()
        self.silence_checked: datetime | None = None
        self.hold_reason: str | None = None  # why sensors are not judged silent now (a platform stall)
        self.horizon = PlatformHorizon(step_s=PLATFORM_CHECK_S)  # wall time the platform has processed up to
        self.positions: dict[int, Position] = {}
        self.oldest_pending_s = 0.0
        self.lag_measured = time.monotonic()  # when check_platform last measured oldest_pending_s
        self.last_progress = utcnow()
        self.stop_event = threading.Event()
        self._wake = threading.Event()
        self.snapshot_lock = threading.Lock()
        self.snapshots = PartedSnapshots(engine, SNAPSHOT_NAME)
        self._restore()

    # -- start-up: snapshot + replay ---------------------------------------------------------------
    def _restore(self) -> None:
        with self.db.begin() as conn:
            for shard in self.shards:
                ensure_cursor(conn, handoff.consumer_name(shard))
            committed = {s: read_cursor(conn, handoff.consumer_name(s))[0] for s in self.shards}
            header, parts = load_parts(conn, SNAPSHOT_NAME)
        snap_positions = self._load_snapshot(header, parts)
        del parts
        replayed = 0
        for shard in self.shards:
            start = (snap_positions or {}).get(shard)
            if start is not None and start < committed[shard]:
                replayed += self._replay(shard, start, committed[shard])
            self.positions[shard] = committed[shard]
        self.bus.drain()  # what the replay produced was published before the crash
        if replayed:
            log.info("replayed %d readings scored after the last snapshot (not published again)", replayed)
        # Downtime is the platform's silence, not the sensors': every feed and never-heard sensor gets a fresh
        # window from the first check this worker makes once it is current (its horizon is known).
        self.engine.silence.restart()
        # Newer state models take over only at a snapshot (so a later replay runs the versions this run ran): if
        # there are newer ones, snapshot now, with the switch. Otherwise scoring resumes at once and the snapshot
        # job's first run (as soon as ``run`` starts its jobs) saves the restored state off the scoring path; a
        # crash before it replays from the same snapshot with the same versions.
        with self.db.connect() as conn:
            newer = newest_versions(conn) != self.state_models.versions()
        if newer:
            self.snapshot()

    def _load_snapshot(
        self, header: dict[str, Any] | None, parts: list[tuple[int, bytes]]
    ) -> dict[int, Position] | None:
        """Restore the saved state; the cursor positions it matches (None: start fresh at the cursor)."""
        if not header:
            return None
        try:
            if header.get("format") == HEADER_FORMAT:
                self.snapshots.load(self.engine, header, parts, self._restore_state_models)
            elif "engine" in header:  # one JSON document, as releases before the parts saved it: read once
                self.engine.restore(header["engine"])
                self._restore_state_models(header.get("state_models", {}))
            else:
                raise ValueError(f"unknown detector snapshot format {header.get('format')!r}")
            positions = {int(k): Position(int(v)) for k, v in header["positions"].items()}
        except Exception:  # noqa: BLE001 - a stale snapshot must not stop detection
            log.exception("detector snapshot could not be restored; starting fresh at the cursor")
            self.engine.reset()
            self.state_models = StateModelScorer({})
            self.snapshots.full = True
            return None
        log.info(
            "detector state restored (%d sensors, %d state models)",
            len(self.engine.ensembles),
            len(self.state_models.monitors),
        )
        return positions

    def _restore_state_models(self, saved: dict[str, Any]) -> None:
        """The state models at the versions the snapshot ran, with their streaming state (for the replay)."""
        versions = {a: s["version"] for a, s in saved.items() if isinstance(s, dict) and "version" in s}
        with self.db.connect() as conn:
            stored = load_state_models(conn, versions=versions)
        self.state_models = StateModelScorer(build_monitors(stored, self.kinds))
        self.state_models.restore(saved)

    def _replay(self, shard: int, start: Position, until: Position) -> int:
        pos, n = start, 0
        while pos < until:
            with self.db.connect() as conn:
                batches = handoff.read_batches(conn, shard, pos, limit=200, until=until)
            if not batches:
                break
            for b in batches:
                self._score(b.readings)
                n += len(b.readings)
            self.bus.drain()
            pos = batches[-1].position
        return n

    # -- scoring -----------------------------------------------------------------------------------
    def _score(self, readings: list[Reading]) -> list[Event]:
        """Run the detectors over readings (caller holds ``self.lock``); the events they produce."""
        unknown = {r.sensor_id for r in readings} - self.catalogue.keys()
        if unknown:
            self._learn_new_sensors(unknown)
        known = [r for r in readings if r.sensor_id in self.catalogue]
        score_readings(self.engine, self.state_models, known)  # the protocol `resilience detect` runs too
        self.forecasts.observe(known)
        # The clock moves with data *processed*, under the same lock as the silence check: a batch that
        # has arrived but waits (behind a snapshot) must not make its own sensors look silent.
        if readings:
            self.clock.observe(max(r.ts for r in readings))
            self.engine.silence.mark_heard({r.sensor_id for r in known}, self.clock(), utcnow())
            self._check_silence_on_data_time()
        for r in readings:
            self.asset_models.observe(r.sensor_id, r.value)
        return self.bus.drain()

    def handle(self, readings: list[Reading]) -> list[Event]:
        """Score readings outside the hand-off (tests, tools) and persist their events."""
        with self.lock:
            events = self._score(readings)
        if events:
            with self.db.begin() as conn:
                persist_events(conn, self.eventlog, events)
        return events

    def consume_once(self, shard: int) -> int:
        """Score the next committed batches of ``shard``; returns how many readings were scored."""
        consumer = handoff.consumer_name(shard)
        looked = utcnow()  # every batch committed before this is numbered below, and read if not consumed
        sequence(self.db, handoff.TABLE)
        with self.lock, self.db.connect() as conn:
            txn = conn.begin()
            pos, _ = read_cursor(conn, consumer, lock=True)
            batches = handoff.read_batches(conn, shard, pos, limit=BATCHES_PER_TXN)
            if not batches:
                txn.rollback()
                self.horizon.detector_current(looked)
                return 0
            readings = [r for b in batches for r in b.readings]
            end = batches[-1].position
            events = self._score(readings)  # from here on the state has moved: the output must land
            try:
                persist_events(conn, self.eventlog, events)
                advance_cursor(conn, consumer, end, processed=len(readings))
                txn.commit()
            except Exception as exc:
                if txn.is_active:
                    txn.rollback()
                if not is_transient(exc):
                    raise
                self._persist_until_done(consumer, pos, end, events, len(readings))
            self.positions[shard] = end
            if len(batches) < BATCHES_PER_TXN:  # this read took all there was
                self.horizon.detector_current(looked)
        self.last_progress = utcnow()
        return len(readings)

    def _persist_until_done(self, consumer: str, pos: Position, end: Position, events: list[Event], n: int) -> None:
        """The detectors' state has moved past these readings: store their output, never score them again."""
        backoff = StoreBackoff()
        while True:
            delay = backoff.failed()
            log.warning("detection output not committed (store unavailable); retrying in %.1f s", delay)
            if self.stop_event.wait(delay):
                raise SystemExit("stopped with uncommitted detection output; the snapshot replay rebuilds it")
            try:
                with self.db.begin() as conn:
                    now_at, _ = read_cursor(conn, consumer, lock=True)
                    if now_at != pos:
                        raise RuntimeError(f"cursor {consumer} moved under this worker ({pos} -> {now_at})")
                    persist_events(conn, self.eventlog, events)
                    advance_cursor(conn, consumer, end, processed=n)
                return
            except Exception as exc:
                if not is_transient(exc):
                    raise

    # -- silence -----------------------------------------------------------------------------------
    def _silence_now(self) -> tuple[datetime, datetime] | None:
        """The data time sensors are judged at: the data clock, less how far the platform's horizon trails the
        wall clock (a stage that is behind holds it back); and the horizon itself. None until this worker has
        drained the hand-off."""
        wall = utcnow()
        horizon = self.horizon.advance(wall)
        if horizon is None:
            return None
        return self.clock() - max(wall - horizon, timedelta(0)), horizon

    def _check_silence_on_data_time(self) -> None:
        """Also check silence as data time passes (every ``SILENCE_STEP_S`` of it), under the processing lock.

        The scheduled job alone can starve behind a busy processing thread in an accelerated replay (one
        wall second is two simulated minutes); the job still covers a feed that has stopped altogether.
        """
        at = self._silence_now()
        if at is None:
            return
        now, horizon = at
        if self.silence_checked is None or (now - self.silence_checked).total_seconds() >= SILENCE_STEP_S:
            self.engine.silence.check(now, hold=self.hold_reason is not None, wall=horizon)
            self.silence_checked = now

    def check_silence(self) -> None:
        with self.lock:
            at = self._silence_now()
            if at is not None:
                self.engine.silence.check(at[0], hold=self.hold_reason is not None, wall=at[1])
                self.silence_checked = at[0]
            events = self.bus.drain()
        if events:
            with self.db.begin() as conn:
                persist_events(conn, self.eventlog, events)
            log.info("silence check: %d sensor-health events", len(events))

    def check_platform(self) -> None:
        """Every few seconds: how far have ingest and this worker got (the silence horizon), and is either
        stalled? Then silence is held."""
        wall = utcnow()
        with self.db.connect() as conn:
            now = db_now(conn)
            reason = ingest_stall(conn, now, self.settings.stall_after_s)
            ingested = ingest_horizon(conn)
            lag = max(
                (handoff.oldest_unconsumed_age_s(conn, s, self.positions.get(s, Position())) for s in self.shards),
                default=0.0,
            )
        with self.lock:  # the horizon is the processing thread's too
            self.horizon.ingest_current(None if ingested is None else ingested + (wall - now))  # this host's clock
            self.horizon.detector_current(wall - timedelta(seconds=lag))
        self.oldest_pending_s = lag
        self.lag_measured = time.monotonic()
        if lag > self.settings.stall_after_s:
            reason = (reason + "; " if reason else "") + f"detection {lag:.0f} s behind its input"
        if reason != self.hold_reason:
            log.warning("silence judgement %s", f"held: {reason}" if reason else "resumed")
        self.hold_reason = reason

    # -- asset models, snapshots -------------------------------------------------------------------
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

    def _learn_new_sensors(self, sensor_ids: set[str]) -> None:
        """Sensors registered since the last read are scored from their first reading (the registry cache
        reads again on a miss, at most once a second); ids still unknown or inactive are skipped."""
        for sid in sorted(sensor_ids):
            row = self.registry.sensor(sid)
            if row is not None and row["active"]:
                self.catalogue[sid] = catalogue_entry(row)
                self.kinds[sid] = row["kind"]

    def refresh_catalogue(self) -> None:
        """Add what is new in the registry (the job runs every ``registry_max_age_s``; each run checks the
        registry's version and reads the rows only if it moved)."""
        snap = self.registry.changed_since(self.catalogue_digest)
        if snap is None:
            return
        fresh = catalogue_from(snap)
        self.catalogue_digest = snap.digest
        with self.lock:
            self.catalogue.update(fresh)
            self.kinds.update({k: v.kind for k, v in fresh.items()})

    def snapshot(self, timeout_s: float | None = None) -> None:
        """Detector state with the cursor positions it matches (taken between batches, under the lock).

        Only the parts with a sensor scored since the last snapshot are packed and rewritten; the header,
        the engine-wide part and those parts commit in one transaction (``timeout_s`` bounds each statement).
        Newly fitted state models take over here and only here, in the same critical section as the save: a
        replay from this snapshot then runs exactly the versions the live worker ran after it.
        """
        with self.snapshot_lock:  # one save at a time: each takes the sensors scored since the one before
            with self.lock:
                scorer = self._with_newest_state_models()
                taken = self._take(scorer)
                if scorer is not self.state_models:  # a switch: no batch may be scored between it and the save
                    self._save_or_give_back(taken, timeout_s, locked=True)
                    self.state_models = scorer
                    log.info("state models now %s", scorer.versions())
                    return
            self._save_or_give_back(taken, timeout_s, locked=False)

    def _take(self, scorer: StateModelScorer) -> TakenState:
        positions = {str(s): p.seq for s, p in self.positions.items()}
        shared = {"engine": self.engine.snapshot_shared(), "state_models": scorer.snapshot()}
        return self.snapshots.take(self.engine, positions, shared)

    def _save_or_give_back(self, taken: TakenState, timeout_s: float | None, *, locked: bool) -> None:
        """Save ``taken``; if that fails, its sensors count as unsaved again (the next snapshot takes them)."""
        try:
            self.snapshots.save(taken, len(self.engine.ensembles), timeout_s)
        except BaseException:
            if locked:
                self.snapshots.give_back(self.engine, taken)
            else:
                with self.lock:
                    self.snapshots.give_back(self.engine, taken)
            raise

    def _with_newest_state_models(self) -> StateModelScorer:
        """The scorer with any newer stored versions swapped in (``self.state_models`` itself if none)."""
        with self.db.connect() as conn:
            newest = newest_versions(conn)
            current = self.state_models.versions()
            changed = {a: v for a, v in newest.items() if current.get(a) != v}
            if not changed:
                return self.state_models
            stored = load_state_models(conn, versions=changed)
        return self.state_models.switched(build_monitors(stored, self.kinds))

    def _oldest_pending_bound(self) -> float:
        """The backlog's age as last measured, or, if that measurement is stale (this process was stopped or
        starved), that plus the time since: the first beat after a freeze must not say "caught up" before the
        lag was measured again, or the platform alert would clear and fire again while the backlog drains."""
        stale = time.monotonic() - self.lag_measured
        return self.oldest_pending_s + stale if stale > 2 * PLATFORM_CHECK_S else self.oldest_pending_s

    def heartbeat(self) -> Heartbeat:
        return Heartbeat(
            self.name,
            "detector",
            utcnow(),
            self.last_progress,
            0,
            self._oldest_pending_bound(),
            {
                "hold": self.hold_reason or "",
                "state_models": len(self.state_models.monitors),
                "open_states": self.state_models.open_count(),
                "data_time": data_time.isoformat() if (data_time := self.clock.newest) is not None else None,
            },
        )

    # -- process -----------------------------------------------------------------------------------
    def _jobs(self) -> BackgroundScheduler:
        jobs = BackgroundScheduler(timezone="UTC")
        jobs.add_job(
            self.check_silence, "interval", seconds=self.settings.silence_check_s, id="silence-check", max_instances=1
        )
        jobs.add_job(self.check_platform, "interval", seconds=PLATFORM_CHECK_S, id="platform-check", max_instances=1)
        jobs.add_job(
            self.snapshot,
            "interval",
            seconds=self.settings.detector_snapshot_s,
            id="detector-snapshot",
            max_instances=1,
            next_run_time=datetime.now(UTC),  # the first at start-up, beside scoring (see _restore)
        )
        jobs.add_job(
            self.refresh_catalogue,
            "interval",
            seconds=self.settings.registry_max_age_s,
            id="catalogue-refresh",
            max_instances=1,
        )
        jobs.add_job(self.score_asset_models, "interval", seconds=300, id="asset-model-score", max_instances=1)
        jobs.add_job(self.reload_asset_models, "interval", seconds=3600, id="asset-model-reload", max_instances=1)
        return jobs

    def run(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.stop_event.set())
        jobs = self._jobs()
        jobs.start()
        NotifyListener(engine_url(self.db), handoff.CHANNEL, self._wake, self.stop_event, name="detector").start()
        beats = HeartbeatThread(self.db, self.name, "detector", self.heartbeat, self.stop_event).start()
        log.info(
            "detection worker running on %d sensors, subscribed to the hand-off (shards %s)",
            len(self.catalogue),
            ",".join(map(str, self.shards)),
        )
        try:
            while not self.stop_event.is_set():
                self._wake.clear()  # before looking: a notification from now on ends the wait below at once
                try:
                    n = sum(self.consume_once(shard) for shard in self.shards)
                except Exception as exc:  # noqa: BLE001 - the cursor did not move; try again
                    log.exception("hand-off batch not processed")
                    if not is_transient(exc):
                        raise
                    self.stop_event.wait(1.0)
                    continue
                if n == 0:
                    self._wake.wait(1.0)
        finally:
            jobs.shutdown(wait=False)
            try:
                self.snapshot(timeout_s=SHUTDOWN_STATEMENT_S)
            except Exception:  # noqa: BLE001 - the replay from the previous snapshot covers it
                log.exception("final snapshot not saved")
            beats.retire()
