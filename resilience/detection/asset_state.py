"""Per-asset state models in production: fitted on each asset's normal history, scored on the live stream.

A burst main or a blocked drain is a *state* that lasts for hours; per-reading detectors flag its first
minutes and flicker. Here each modelled asset gets a :class:`~resilience.detection.state_models.
CanonicalVariateStateModel` over its sensors, fed one row per minute (:class:`RowBuilder`: per-sensor means of
the minute, a sensor without a reading holding its last value for up to ``MAX_FILL`` minutes). Its held alarm
(persistence + hysteresis) opens ONE anomaly per abnormal state, holds it while the state lasts, names the
sensors that left the normal relation, and closes it once the asset is back (:class:`AssetStateMonitor`).

Rows are built from readings in the order the detector consumes them, and everything (row builder, window,
EWMA, alarm, the open anomaly) is JSON state in the detector's snapshot, so a replay after a crash rebuilds the
same state. Model versions change only at a snapshot (:meth:`StateModelScorer.switched`), so a replay from a
snapshot runs the model versions the crashed worker ran.
"""

from __future__ import annotations

import hashlib
import logging
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from resilience.detection.explain import closing_message, msg, render_en, stored_message
from resilience.detection.model_blobs import pack_model, unpack_model
from resilience.detection.state_models import CanonicalVariateStateModel
from resilience.core.domain import Level, Reading
from resilience.core.events import AnomalyEvent, AnomalyPhase
from resilience.core.messages import Message
from resilience.store.state_models import StoredStateModel

log = logging.getLogger(__name__)
BUCKET_S = 60
MAX_FILL = 5  # minutes a silent sensor's last value stands in for it; longer gaps give no rows
#: Share of normal rows on which a statistic may exceed its limit (split among the three; limits from the
#: training window alone, out of fold): about 1.5 minutes a day per asset, since every modelled asset of a city
#: adds its own false alarms.
FALSE_ALARM_RATE = 0.001
#: The held state ends once the smoothed statistic is below RELEASE_LEVEL x its limit for RELEASE_DWELL rows
#: (minutes) in a row; its anomaly then closes (``anomaly.back_to_normal_peak``) and the asset's alert with it.
RELEASE_LEVEL = 0.8
RELEASE_DWELL = 3
MODEL_FORMAT = "resilience.state_model/1"
#: All three statistics raise the alarm: a burst or a blocked pipe moves the state itself (flow and pressure
#: far outside their normal joint range) and holds it there, where the residuals settle once the step is over.
STATISTICS = ("t2_state", "t2_residual", "q")
#: Raw statistics capped at 4x their limit before smoothing: the alarm clears ~10 rows after the fault ends.
CLIP = 4.0
STATE_NAMESPACE = uuid.UUID("0b8f3d6e-3f1c-4c55-9a3e-2a7d5b9e4c21")
MIN_UPDATE_STEP = 0.05
CONTRIBUTOR_SHARE = 0.15  # sensors named in the explanation: at least this share of the residual


def new_state_model(n_columns: int) -> CanonicalVariateStateModel:
    """The state model production fits (and ``resilience detect --model cva`` runs) for ``n_columns`` sensors.

    Three lags; the state keeps at most half the lagged dimensions, so residual variates remain to watch.
    """
    past = 3
    return CanonicalVariateStateModel(
        past=past,
        future=past,
        n_states=max(1, min(30, n_columns * past // 2)),
        false_alarm_rate=FALSE_ALARM_RATE,
        clear_after=RELEASE_DWELL,
        clear_level=RELEASE_LEVEL,
        statistics=STATISTICS,
        clip=CLIP,
    )


def model_version(model: CanonicalVariateStateModel) -> str:
    """Content hash of the fitted model (parameters, projection, limits): same fit, same version."""
    proj = model.projection_
    h = hashlib.sha256(repr(sorted(model.get_params().items())).encode())
    for arr in (proj["mean"], proj["std"], proj["J"], model.limits_, model.center_):
        h.update(np.ascontiguousarray(arr, dtype=float).tobytes())
    return f"cva-{h.hexdigest()[:16]}"


def dump_state_model(model: CanonicalVariateStateModel) -> bytes:
    """The fitted model as bytes for ``state_models.blob`` (fresh streaming state; the detector keeps its own)."""
    return pack_model(MODEL_FORMAT, model_version(model), model)


def load_state_model(blob: bytes) -> CanonicalVariateStateModel:
    """Inverse of :func:`dump_state_model`. Only for blobs from our own database: pickle runs code."""
    model = unpack_model(blob, MODEL_FORMAT, CanonicalVariateStateModel, model_version)
    model.reset_stream()
    return model


class RowBuilder:
    """Readings of an asset's sensors in, one row per ``bucket_s`` out (per-sensor means, short gaps held).

    A row is emitted when the first reading of a later bucket arrives; a reading for a bucket already emitted
    is too late and ignored, so rows depend only on the order readings are consumed in.
    """

    def __init__(self, columns: Sequence[str], bucket_s: int = BUCKET_S) -> None:
        self.columns = list(columns)
        self.index = {c: i for i, c in enumerate(self.columns)}
        self.bucket_s = bucket_s
        self.bucket: int | None = None
        self.sums = [0.0] * len(self.columns)
        self.counts = [0] * len(self.columns)
        self.last: list[float | None] = [None] * len(self.columns)
        self.age = [0] * len(self.columns)  # buckets since the sensor last reported

    def add(self, sensor_id: str, ts: datetime, value: float) -> list[tuple[datetime, np.ndarray]]:
        """Feed one reading; the rows it completes, each stamped with its bucket's end."""
        j = self.index.get(sensor_id)
        if j is None or not math.isfinite(value):
            return []
        b = int(ts.timestamp() // self.bucket_s)
        rows: list[tuple[datetime, np.ndarray]] = []
        if self.bucket is None:
            self.bucket = b
        elif b < self.bucket:
            return []
        elif b > self.bucket:
            rows = self._close(b)
        self.sums[j] += value
        self.counts[j] += 1
        return rows

    def _close(self, b: int) -> list[tuple[datetime, np.ndarray]]:
        assert self.bucket is not None
        rows: list[tuple[datetime, np.ndarray]] = []
        for k in range(self.bucket, min(b, self.bucket + MAX_FILL + 1)):
            for j, n in enumerate(self.counts):
                if n:
                    self.last[j], self.age[j] = self.sums[j] / n, 0
                else:
                    self.age[j] += 1
            self.sums, self.counts = [0.0] * len(self.columns), [0] * len(self.columns)
            if all(v is not None for v in self.last) and max(self.age) <= MAX_FILL:
                end = datetime.fromtimestamp((k + 1) * self.bucket_s, UTC)
                rows.append((end, np.array(self.last, dtype=float)))
        skipped = b - self.bucket - (MAX_FILL + 1)  # a long gap: its empty buckets still age every sensor
        if skipped > 0:
            self.age = [a + skipped for a in self.age]
        self.bucket = b
        return rows

    def to_state(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "sums": self.sums, "counts": self.counts, "last": self.last, "age": self.age}

    def load_state(self, state: dict[str, Any]) -> None:
        n = len(self.columns)
        if any(len(state[k]) != n for k in ("sums", "counts", "last", "age")):
            raise ValueError("row builder state does not fit these columns")
        self.bucket = state["bucket"]
        self.sums = [float(v) for v in state["sums"]]
        self.counts = [int(v) for v in state["counts"]]
        self.last = [None if v is None else float(v) for v in state["last"]]
        self.age = [int(v) for v in state["age"]]


def training_rows(
    readings: Iterable[Reading],
    columns: Sequence[str],
    periods: Sequence[tuple[datetime, datetime]],
    margin: timedelta,
) -> tuple[np.ndarray, int]:
    """Rows of a history (the detector's own row building), leaving out rows within ``margin`` of an abnormal
    period; returns the matrix and how many rows were left out."""
    builder = RowBuilder(columns)
    spans = [(a - margin, b + margin) for a, b in periods]
    kept: list[np.ndarray] = []
    dropped = 0
    for r in readings:
        for ts, row in builder.add(r.sensor_id, r.ts, r.value):
            if any(a <= ts <= b for a, b in spans):
                dropped += 1
            else:
                kept.append(row)
    return np.array(kept, dtype=float).reshape(-1, len(columns)), dropped


@dataclass
class OpenState:
    """The anomaly an asset's abnormal state holds open (its sensor stays the one named at opening)."""

    anomaly_id: str
    start: datetime
    sensor_id: str
    peak_score: float
    message: Message | None
    quiet_since: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "anomaly_id": self.anomaly_id,
            "start": self.start.isoformat(),
            "sensor_id": self.sensor_id,
            "peak_score": self.peak_score,
            "message": self.message,
            "quiet_since": self.quiet_since.isoformat() if self.quiet_since else None,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OpenState:
        return cls(
            d["anomaly_id"],
            datetime.fromisoformat(d["start"]),
            d["sensor_id"],
            float(d["peak_score"]),
            stored_message(d),
            datetime.fromisoformat(d["quiet_since"]) if d["quiet_since"] else None,
        )


def stable_state_anomaly_id(asset_id: str, opened_at: datetime) -> str:
    """The same abnormal state gets the same id however often its readings are scored (replay)."""
    return str(uuid.uuid5(STATE_NAMESPACE, f"{asset_id}|{opened_at.isoformat()}"))


class AssetStateMonitor:
    """One asset's state model on the live stream: rows in, one anomaly per abnormal state out."""

    def __init__(self, stored: StoredStateModel, model: CanonicalVariateStateModel, kinds: Mapping[str, str]) -> None:
        self.asset_id = stored.asset_id
        self.version = stored.version
        self.sensor_ids = list(stored.sensor_ids)
        self.model = model
        self.kinds = {s: kinds.get(s, "") for s in self.sensor_ids}
        self.rows = RowBuilder(self.sensor_ids)
        self.open: OpenState | None = None

    @property
    def detector(self) -> str:
        return f"state_model:{self.version}"

    def observe(self, r: Reading) -> list[AnomalyEvent]:
        """Feed one reading of one of the asset's sensors; the events of the rows it completes."""
        events: list[AnomalyEvent] = []
        for ts, row in self.rows.add(r.sensor_id, r.ts, r.value):
            event = self._on_row(ts, row)
            if event is not None:
                events.append(event)
        return events

    def _explain(self, ratio: float, row: np.ndarray) -> tuple[str, Message]:
        """(top sensor, a message naming every sensor with a real share of the residual)."""
        share = self.model.contributions()
        order = [int(j) for j in np.argsort(-share)]
        named = [j for j in order if share[j] >= CONTRIBUTOR_SHARE][:3] or order[:1]
        contributors = [
            msg(
                "anomaly.contributor",
                sensor_kind=self.kinds[self.sensor_ids[j]] or "sensor",
                sensor=self.sensor_ids[j],
                value=f"{row[j]:.3g}",
                share=f"{share[j] * 100:.0f}",
            )
            for j in named
        ]
        message = msg(
            "anomaly.state_left_normal",
            asset=self.asset_id,
            sensors=str(len(self.sensor_ids)),
            ratio=f"{ratio:.1f}",
            contributors=contributors,
        )
        return self.sensor_ids[order[0]], message

    def _on_row(self, ts: datetime, row: np.ndarray) -> AnomalyEvent | None:
        self.model.score_one(row)
        ratio = self.model.last_ratio_  # smoothed and capped: what holds the alarm
        worst = max(ratio, self.model.last_raw_ratio_)  # how far out the asset is now: the reported score
        score = worst / (1.0 + worst)
        active = self.model.alarm_active
        cur = self.open
        if cur is None:
            if not active:
                return None
            sensor_id, message = self._explain(worst, row)
            self.open = OpenState(stable_state_anomaly_id(self.asset_id, ts), ts, sensor_id, score, message)
            return self._event(AnomalyPhase.OPEN, ts, score, row)
        if active:
            cur.quiet_since = None if ratio > self.model.clear_level else (cur.quiet_since or ts)
            if score < cur.peak_score + MIN_UPDATE_STEP:
                return None
            cur.peak_score = score
            cur.message = self._explain(worst, row)[1]
            return self._event(AnomalyPhase.UPDATE, ts, score, row)
        event = self._event(AnomalyPhase.CLOSE, ts, score, row, end=cur.quiet_since or ts)
        self.open = None
        return event

    def _event(
        self, phase: AnomalyPhase, ts: datetime, score: float, row: np.ndarray, end: datetime | None = None
    ) -> AnomalyEvent:
        cur = self.open
        assert cur is not None
        message = cur.message if phase is not AnomalyPhase.CLOSE else closing_message(cur.message)
        value = float(row[self.sensor_ids.index(cur.sensor_id)])
        return AnomalyEvent(
            cur.anomaly_id,
            phase,
            cur.sensor_id,
            self.asset_id,
            self.kinds[cur.sensor_id],
            self.detector,
            cur.start,
            ts,
            score,
            cur.peak_score,
            value,
            Level.NONE,
            render_en(message),
            end=end,
            message=message,
        )

    def to_state(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "rows": self.rows.to_state(),
            "model": self.model.stream_state(),
            "open": self.open.to_dict() if self.open else None,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`to_state` of the same model version (another version's state is refused)."""
        if state.get("version") != self.version:
            raise ValueError(f"{self.asset_id}: state of model {state.get('version')}, not {self.version}")
        self.rows.load_state(state["rows"])
        self.model.load_stream_state(state["model"])
        self.open = OpenState.from_dict(state["open"]) if state["open"] else None

    def carry_over(self, old: AssetStateMonitor) -> None:
        """Take over an open anomaly from the previous model version: it stays open (alarm on) until the new
        model's hysteresis closes it, so a refit during a fault neither closes nor reopens it."""
        if old.sensor_ids == self.sensor_ids:
            self.rows.load_state(old.rows.to_state())
        if old.open is not None and old.open.sensor_id in self.kinds:
            self.open = old.open
            self.model.alarm_.active = True


def build_monitors(models: Iterable[StoredStateModel], kinds: Mapping[str, str]) -> dict[str, AssetStateMonitor]:
    """A monitor per stored model whose blob loads; an unreadable one is logged and skipped."""
    out: dict[str, AssetStateMonitor] = {}
    for stored in models:
        try:
            out[stored.asset_id] = AssetStateMonitor(stored, load_state_model(stored.blob), kinds)
        except Exception:  # noqa: BLE001 - one bad model must not stop the others
            log.exception("state model %s of asset %s could not be loaded", stored.version, stored.asset_id)
    return out


class StateModelScorer:
    """Every modelled asset's monitor, fed by the detector as batches arrive."""

    def __init__(self, monitors: dict[str, AssetStateMonitor]) -> None:
        self.monitors = monitors
        self.by_sensor = {s: m for m in monitors.values() for s in m.sensor_ids}

    def observe(self, readings: Iterable[Reading]) -> list[AnomalyEvent]:
        events: list[AnomalyEvent] = []
        for r in readings:
            monitor = self.by_sensor.get(r.sensor_id)
            if monitor is not None:
                events.extend(monitor.observe(r))
        return events

    def versions(self) -> dict[str, str]:
        return {a: m.version for a, m in self.monitors.items()}

    def open_count(self) -> int:
        return sum(1 for m in self.monitors.values() if m.open is not None)

    def snapshot(self) -> dict[str, Any]:
        return {a: m.to_state() for a, m in self.monitors.items()}

    def restore(self, state: Mapping[str, dict[str, Any]]) -> None:
        """Load a :meth:`snapshot`; an asset whose state does not fit its model starts fresh (logged)."""
        for asset_id, s in state.items():
            monitor = self.monitors.get(asset_id)
            if monitor is None:
                continue
            try:
                monitor.load_state(s)
            except (KeyError, TypeError, ValueError):
                log.exception("state-model state of %s not restored; it starts fresh", asset_id)

    def switched(self, fresh: dict[str, AssetStateMonitor]) -> StateModelScorer:
        """A scorer with the ``fresh`` monitors (new versions), carrying open anomalies over; assets without a
        fresh model keep their monitor. ``self`` is left unchanged, so a failed snapshot can keep it."""
        monitors = dict(self.monitors)
        for asset_id, new in fresh.items():
            old = self.monitors.get(asset_id)
            if old is not None and old.version == new.version:
                continue
            if old is not None:
                new.carry_over(old)
            monitors[asset_id] = new
        return StateModelScorer(monitors)
