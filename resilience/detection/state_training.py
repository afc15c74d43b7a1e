"""Fitting the per-asset state models on each asset's normal history (the scheduler's nightly refit).

History window: the last ``TRAIN_DAYS`` days (a week covers the weekday/weekend demand cycle of water and
drainage). Left out: every known anomaly of the asset (any detector) and every alert on it, each widened by
``EXCLUDE_MARGIN`` (onsets are detected late, and the plant takes time to settle after repair). An asset is
fitted only with ``MIN_ROWS`` clean one-minute rows (half a day), and only on a window that is one normal state:
a fault nobody recorded would be learnt as normal, so a window the model finds mixed is refused, the refusal
logged with its reason, and the asset keeps its previous model. Each fit is stored with its version, fit
time, training window, row count and exclusions; the detector picks up the newest at its next snapshot.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import numpy as np
from resilience.detection.asset_models import EXCLUDED_KINDS
from resilience.detection.asset_state import dump_state_model, model_version, new_state_model, training_rows
from resilience.detection.state_models import CanonicalVariateStateModel, ContaminatedWindowError
from resilience.store.db import Engine
from resilience.store.state_models import abnormal_periods, history, modelled_asset_sensors, save_state_model

log = logging.getLogger(__name__)
TRAIN_DAYS = 7.0
MIN_ROWS = 720
EXCLUDE_MARGIN = timedelta(minutes=30)


class TooFewRowsError(ValueError):
    """Not enough clean one-minute rows to fit a state model on; ``str()`` says how many there are."""


def fit_on_rows(X: np.ndarray, *, min_rows: int = MIN_ROWS) -> CanonicalVariateStateModel:
    """The production fit of one asset's rows (the nightly refit, a re-baseline and ``resilience detect`` all
    use it): refused with :class:`TooFewRowsError` or :class:`ContaminatedWindowError`, each with its reason."""
    model = new_state_model(X.shape[1])
    need = max(min_rows, model.n_folds * (model.past + model.future + 10))
    if len(X) < need:
        raise TooFewRowsError(f"{len(X)} clean one-minute rows, a state model needs {need}")
    return model.fit(X)


def fit_asset_state_model(
    engine: Engine,
    asset_id: str,
    sensor_ids: list[str],
    start: datetime,
    end: datetime,
    *,
    min_rows: int = MIN_ROWS,
    fitted_at: datetime | None = None,
) -> str | None:
    """Fit and store one asset's model on [start, end); its version, or None without enough clean rows or on a
    window that is not one normal state (both logged with the reason)."""
    with engine.connect() as conn:
        periods = abnormal_periods(conn, asset_id=asset_id, start=start - EXCLUDE_MARGIN, end=end)
        X, dropped = training_rows(
            history(conn, sensor_ids=sensor_ids, start=start, end=end), sensor_ids, periods, EXCLUDE_MARGIN
        )
    try:
        model = fit_on_rows(X, min_rows=min_rows)
    except TooFewRowsError:
        log.info("state model of %s not fitted: %d clean rows (%d left out)", asset_id, len(X), dropped)
        return None
    except ContaminatedWindowError as exc:
        log.warning("state model of %s not fitted on [%s, %s): %s", asset_id, start, end, exc)
        return None
    version = model_version(model)
    with engine.begin() as conn:
        save_state_model(
            conn,
            asset_id=asset_id,
            version=version,
            fitted_at=fitted_at or end,
            train_start=start,
            train_end=end,
            n_rows=len(X),
            sensor_ids=sensor_ids,
            excluded=[{"start": a.isoformat(), "end": b.isoformat()} for a, b in periods],
            blob=dump_state_model(model),
        )
    log.info("state model %s of %s fitted on %d rows (%d left out)", version, asset_id, len(X), dropped)
    return version


def fit_state_models(
    engine: Engine,
    now: datetime,
    *,
    days: float = TRAIN_DAYS,
    min_rows: int = MIN_ROWS,
    asset_ids: set[str] | None = None,
) -> int:
    """Refit every modelled asset (>= 2 sensors of continuous kinds) on [now - days, now); how many were fitted."""
    start = now - timedelta(days=days)
    with engine.connect() as conn:
        groups = modelled_asset_sensors(conn, excluded_kinds=sorted(EXCLUDED_KINDS))
    fitted = 0
    for asset_id, sensors in sorted(groups.items()):
        if asset_ids is not None and asset_id not in asset_ids:
            continue
        try:
            version = fit_asset_state_model(
                engine, asset_id, [s for s, _ in sensors], start, now, min_rows=min_rows, fitted_at=now
            )
        except (ValueError, ArithmeticError, np.linalg.LinAlgError):  # a degenerate history
            log.exception("state model of %s could not be fitted", asset_id)
            continue
        fitted += version is not None
    log.info("state models fitted: %d of %d candidate assets", fitted, len(groups))
    return fitted
