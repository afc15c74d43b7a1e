"""Re-baselining an asset's state model: an engineer accepts that the asset has settled in a new steady state.

A held state anomaly stays open while the asset is outside the normal state its model learnt, which is right
for a burst and wrong once the asset runs in a new normal on purpose (a valve re-set, a new pumping regime).
Then an engineer re-baselines it: the model is refitted, as the nightly refit fits (:func:`~resilience.
detection.state_training.fit_on_rows`), on the asset's last ``hours`` of data up to its newest reading (data
time), with nothing left out, since that window IS the state being accepted. A window that is itself not one
normal state (still moving, a fault in it) or too short is refused with the reason. Every request, fitted or
refused, is recorded with who asked, when and why (``state_model_rebaselines``). The detector takes the new
version over at its next snapshot, carrying the open anomaly over; the new model finds the asset normal, the
anomaly closes after the release dwell, and the asset's alert follows (the alert service reads the close).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from resilience.detection.asset_state import dump_state_model, model_version, training_rows
from resilience.detection.state_models import ContaminatedWindowError
from resilience.detection.state_training import TooFewRowsError, fit_on_rows
from resilience.store.db import Engine
from resilience.store.state_models import (
    history,
    last_reading_at,
    newest_model_meta,
    record_rebaseline,
    save_state_model,
)

log = logging.getLogger(__name__)
#: One daily cycle: a shorter window of an asset with a demand cycle is refused by the fit's screen (its halves
#: are different parts of the cycle, not one state).
DEFAULT_HOURS = 24.0
MAX_HOURS = 24.0 * 7
#: Rows a re-baseline needs, as the nightly refit: half a day of one-minute rows.
MIN_ROWS = 720
MAX_REASON = 500


class RebaselineRefused(ValueError):
    """The request cannot be carried out; ``str()`` is the reason (shown to the engineer). ``kind``: ``invalid``
    (the request itself), ``unknown`` (no such model or data) or ``refused`` (the window; audited as ``audit_id``)."""

    def __init__(self, reason: str, kind: str, audit_id: int | None = None) -> None:
        super().__init__(reason)
        self.kind = kind
        self.audit_id = audit_id


@dataclass(frozen=True, slots=True)
class Rebaselined:
    """A fitted re-baseline: the new version, the one it replaces, the window, and its audit entry."""

    audit_id: int
    asset_id: str
    version: str
    previous_version: str
    window_start: datetime
    window_end: datetime
    n_rows: int


def rebaseline(
    engine: Engine, asset_id: str, *, requested_by: str, reason: str, hours: float = DEFAULT_HOURS
) -> Rebaselined:
    """Refit ``asset_id``'s state model on its recent window and record the request; raises
    :class:`RebaselineRefused` (audited when the window was looked at) if it cannot."""
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON:
        raise RebaselineRefused(f"a reason of 1 to {MAX_REASON} characters is required", "invalid")
    if not 1.0 <= hours <= MAX_HOURS:
        raise RebaselineRefused(f"hours must be between 1 and {MAX_HOURS:g}", "invalid")
    with engine.connect() as conn:
        meta = newest_model_meta(conn, asset_id=asset_id)
        if meta is None:
            raise RebaselineRefused(f"asset {asset_id!r} has no state model to re-baseline", "unknown")
        previous, fitted_at, sensor_ids = meta
        newest = last_reading_at(conn, sensor_ids=sensor_ids)
        if newest is None:
            raise RebaselineRefused(f"asset {asset_id!r} has no readings", "unknown")
        end = newest + timedelta(microseconds=1)
        start = end - timedelta(hours=hours)
        X, _ = training_rows(history(conn, sensor_ids=sensor_ids, start=start, end=end), sensor_ids, [], timedelta(0))
    audit = {
        "asset_id": asset_id,
        "requested_by": requested_by,
        "reason": reason,
        "window_start": start,
        "window_end": end,
        "n_rows": len(X),
        "previous_version": previous,
    }
    try:
        model = fit_on_rows(X, min_rows=MIN_ROWS)
    except (TooFewRowsError, ContaminatedWindowError) as exc:
        refused = f"not re-baselined: {exc}"
        with engine.begin() as conn:
            audit_id = record_rebaseline(conn, **audit, refused=refused)
        log.warning("re-baseline of %s by %s refused: %s", asset_id, requested_by, refused)
        raise RebaselineRefused(refused, "refused", audit_id) from exc
    version = model_version(model)
    with engine.begin() as conn:
        save_state_model(
            conn,
            asset_id=asset_id,
            version=version,
            fitted_at=max(end, fitted_at + timedelta(microseconds=1)),  # the newest: the detector takes it next
            train_start=start,
            train_end=end,
            n_rows=len(X),
            sensor_ids=sensor_ids,
            excluded=[],
            blob=dump_state_model(model),
        )
        audit_id = record_rebaseline(conn, **audit, version=version)
    log.info("state model of %s re-baselined by %s: %s -> %s (%s)", asset_id, requested_by, previous, version, reason)
    return Rebaselined(audit_id, asset_id, version, previous, start, end, len(X))
