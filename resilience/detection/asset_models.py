"""Per-asset multivariate models in production: trained on history by a scheduled job, stored with a
version in ``ml_models``, reloaded on restart, and scored every minute by the detection worker.

One sensor alone can look normal while the combination is not (pressure steady while flow climbs at
night); an :class:`~resilience.detection.multivariate.AssetModel` over an asset's sensors catches that.
Rows are 5-minute means of each sensor (forward-filled one bucket), so sensors with different sampling
intervals line up.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from resilience.detection.explain import closing_message, msg, render_en
from resilience.detection.multivariate import AssetModel, dump_model, load_model
from resilience.core.domain import Level
from resilience.core.events import AnomalyEvent, AnomalyPhase
from resilience.store.db import Connection, Engine
from resilience.store.ml_models import latest_models, multi_sensor_assets, save_model
from resilience.store.readings import bucket_means

log = logging.getLogger(__name__)
BUCKET_S = 300
#: Kinds whose values are event-driven and mostly zero; they add nothing to a model of normal covariance.
EXCLUDED_KINDS = {"methane", "h2s", "rainfall", "road_water_depth"}


def training_matrix(conn: Connection, sensor_ids: list[str], start: datetime, end: datetime) -> np.ndarray:
    """(n_rows, n_sensors) of 5-minute means, rows with a gap in any sensor dropped after a 1-bucket fill."""
    rows = bucket_means(conn, sensor_ids=sensor_ids, start=start, end=end, bucket_s=BUCKET_S)
    col = {s: i for i, s in enumerate(sensor_ids)}
    buckets: dict[datetime, np.ndarray] = {}
    for bucket, sensor_id, value in rows:
        buckets.setdefault(bucket, np.full(len(sensor_ids), np.nan))[col[sensor_id]] = value
    out: list[np.ndarray] = []
    last = np.full(len(sensor_ids), np.nan)
    for bucket in sorted(buckets):
        row = buckets[bucket]
        filled = np.where(np.isnan(row), last, row)
        last = row
        if not np.isnan(filled).any():
            out.append(filled)
    return np.array(out).reshape(-1, len(sensor_ids))


def train_asset_models(
    engine: Engine, now: datetime, *, days: float = 7.0, min_rows: int = 288, method: str = "pca"
) -> int:
    """Fit and store one model per asset with at least two modelled sensors and a day of clean history."""
    start = now - timedelta(days=days)
    with engine.connect() as conn:
        groups = multi_sensor_assets(conn, excluded_kinds=sorted(EXCLUDED_KINDS))
    trained = 0
    for asset_id, sensor_ids in groups:
        with engine.connect() as conn:
            X = training_matrix(conn, list(sensor_ids), start, now)
        if len(X) < min_rows:
            continue
        model = AssetModel(method=method, random_state=0).fit(X)
        model.sensor_ids_ = list(sensor_ids)  # column order, kept with the model
        with engine.begin() as conn:
            save_model(conn, asset_id=asset_id, version=model.version_, n_samples=len(X), blob=dump_model(model))
        trained += 1
    log.info("asset models trained: %d of %d candidate assets", trained, len(groups))
    return trained


def load_latest_models(conn: Connection) -> dict[str, AssetModel]:
    models: dict[str, AssetModel] = {}
    for asset_id, blob in latest_models(conn):
        try:
            models[asset_id] = load_model(blob)
        except Exception:  # noqa: BLE001 - an unreadable model is skipped, the rest still serve
            log.exception("model for asset %s could not be loaded", asset_id)
    return models


@dataclass
class AssetModelScorer:
    """Scores each modelled asset's latest 5-minute means; opens and closes asset-level anomalies."""

    models: dict[str, AssetModel]
    kinds: dict[str, str]  # sensor_id -> kind, for explanations
    threshold: float = 0.8  # 0.5 is the training 99 % quantile; 0.8 is four times further out
    close_threshold: float = 0.6
    open_: dict[str, AnomalyEvent] = field(default_factory=dict)
    sums_: dict[str, list[float]] = field(default_factory=dict)

    def observe(self, sensor_id: str, value: float) -> None:
        acc = self.sums_.setdefault(sensor_id, [0.0, 0.0])
        acc[0] += value
        acc[1] += 1

    def score(self, now: datetime) -> list[AnomalyEvent]:
        means = {s: acc[0] / acc[1] for s, acc in self.sums_.items() if acc[1]}
        self.sums_.clear()
        events: list[AnomalyEvent] = []
        for asset_id, model in self.models.items():
            cols: list[str] = getattr(model, "sensor_ids_", [])
            if not cols or any(c not in means for c in cols):
                continue
            x = np.array([[means[c] for c in cols]])
            s = float(model.anomaly_score(x)[0])
            contrib = model.contributions(x[0])
            top = cols[int(np.argmax(contrib))]
            current = self.open_.get(asset_id)
            if s >= self.threshold:
                message = msg(
                    "anomaly.asset_model",
                    asset=asset_id,
                    sensors=str(len(cols)),
                    score=f"{s:.2f}",
                    sensor_kind=self.kinds.get(top, top),
                    value=f"{means[top]:.3g}",
                    share=f"{contrib.max() * 100:.0f}",
                )
                text_ = render_en(message)
                if current is None:
                    ev = AnomalyEvent(
                        str(uuid.uuid4()),
                        AnomalyPhase.OPEN,
                        top,
                        asset_id,
                        self.kinds.get(top, ""),
                        f"asset_model:{model.version_}",
                        now,
                        now,
                        s,
                        s,
                        means[top],
                        Level.NONE,
                        text_,
                        message=message,
                    )
                    self.open_[asset_id] = ev
                    events.append(ev)
                elif s > current.peak_score + 0.05:
                    ev = AnomalyEvent(
                        current.anomaly_id,
                        AnomalyPhase.UPDATE,
                        current.sensor_id,
                        asset_id,
                        current.sensor_kind,
                        current.detector,
                        current.start,
                        now,
                        s,
                        s,
                        means[top],
                        Level.NONE,
                        text_,
                        message=message,
                    )
                    self.open_[asset_id] = ev
                    events.append(ev)
            elif current is not None and s < self.close_threshold:
                events.append(
                    AnomalyEvent(
                        current.anomaly_id,
                        AnomalyPhase.CLOSE,
                        current.sensor_id,
                        asset_id,
                        current.sensor_kind,
                        current.detector,
                        current.start,
                        now,
                        s,
                        current.peak_score,
                        means.get(current.sensor_id, current.value),
                        Level.NONE,
                        render_en(closing_message(current.message)),
                        end=now,
                        message=closing_message(current.message),
                    )
                )
                del self.open_[asset_id]
        return events

    def summary(self) -> dict[str, Any]:
        return {"models": len(self.models), "open": len(self.open_)}
