"""Re-baselining an asset's state model: an engineer accepts that the asset has settled in a new steady state.

A held state anomaly stays open while the asset is outside the normal state its model learnt, which is right
for a burst and wrong once the asset runs in a new normal on purpose (a valve re-set, a new pumping regime).
Then an engineer re-baselines it: the model is refitted, as the nightly refit fits (:func:`~resilience.
detection.state_training.fit_on_rows`), on the asset's last ``hours`` of data up to its newest reading (data
time), with nothing left out, since that window IS the state being accepted. A window that is itself not one
normal state (still moving, a fault in it) or too short is refused with the reason. Every request, fitted or
refused, is recorded with who asked, when and why (``state_model_rebaselines``). The CLI carries its request out
at once (:func:`rebaseline`); one made through the API (which fits nothing itself) is ``pending`` until the
scheduler's job (:func:`run_pending`) carries it out. The detector takes the new
version over at its next snapshot, carrying the open anomaly over; the new model finds the asset normal, the
anomaly closes after the release dwell, and the asset's alert follows (the alert service reads the close).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from resilience.detection.asset_state import dump_state_model, model_version, training_rows
from resilience.detection.state_models import CanonicalVariateStateModel, ContaminatedWindowError
from resilience.detection.state_training import TooFewRowsError, fit_on_rows
from resilience.store.db import Engine
from resilience.store.state_models import (
    REBASELINE_DEFAULT_HOURS,
    REBASELINE_MAX_HOURS,
    REBASELINE_MAX_REASON,
    claim_rebaseline,
    complete_rebaseline,
    history,
    last_reading_at,
    newest_model_meta,
    request_rebaseline,
    save_state_model,
)

log = logging.getLogger(__name__)
DEFAULT_HOURS = REBASELINE_DEFAULT_HOURS
MAX_HOURS = REBASELINE_MAX_HOURS
#: Rows a re-baseline needs, as the nightly refit: half a day of one-minute rows.
MIN_ROWS = 720
MAX_REASON = REBASELINE_MAX_REASON


class RebaselineRefused(ValueError):
    """The request cannot be carried out; ``str()`` is the reason (shown to the engineer). ``kind``: ``invalid``
    (the request itself), ``unknown`` (no such model or data) or ``refused`` (the window; audited as ``audit_id``)."""

    def __init__(
        self, reason: str, kind: str, audit_id: int | None = None, *, window: dict[str, Any] | None = None
    ) -> None:
        super().__init__(reason)
        self.kind = kind
        self.audit_id = audit_id
        self.window = window or {}  # what the audit row records of the window looked at


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


def check_request(reason: str, hours: float) -> str:
    """The reason, stripped; an empty or overlong reason or a window out of range is refused (``invalid``)."""
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON:
        raise RebaselineRefused(f"a reason of 1 to {MAX_REASON} characters is required", "invalid")
    if not 1.0 <= hours <= MAX_HOURS:
        raise RebaselineRefused(f"hours must be between 1 and {MAX_HOURS:g}", "invalid")
    return reason


def rebaseline(
    engine: Engine, asset_id: str, *, requested_by: str, reason: str, hours: float = DEFAULT_HOURS
) -> Rebaselined:
    """Record and carry out a re-baseline at once (the CLI); raises :class:`RebaselineRefused` if it cannot
    (audited when the window was looked at)."""
    reason = check_request(reason, hours)
    with engine.connect() as conn:
        if newest_model_meta(conn, asset_id=asset_id) is None:
            raise RebaselineRefused(f"asset {asset_id!r} has no state model to re-baseline", "unknown")
    with engine.begin() as conn:
        request_id = request_rebaseline(conn, asset_id=asset_id, requested_by=requested_by, reason=reason, hours=hours)
    done = carry_out(engine, request_id)
    if done is None:  # another process took it between the two transactions
        raise RebaselineRefused(f"re-baseline request {request_id} was carried out elsewhere", "unknown", request_id)
    return done


def run_pending(engine: Engine) -> int:
    """Carry out every pending request, oldest first (the scheduler's job); how many were handled."""
    n = 0
    while True:
        try:
            if carry_out(engine) is None:
                return n
        except RebaselineRefused:
            pass  # recorded with its reason
        n += 1


def carry_out(engine: Engine, request_id: int | None = None) -> Rebaselined | None:
    """Claim one pending request (that one, or the oldest), fit, and record the outcome in the same transaction
    as the new model; None if there was none to claim. A refusal is recorded, then raised."""
    refused: RebaselineRefused | None = None
    with engine.begin() as conn:
        req = claim_rebaseline(conn, request_id=request_id)
        if req is None:
            return None
        try:
            model, previous, fitted_at, sensor_ids, window = _fit(engine, req["asset_id"], req["hours"])
        except RebaselineRefused as exc:  # recorded in this transaction, raised once it has committed
            complete_rebaseline(conn, request_id=req["id"], status="refused", refused=str(exc), **exc.window)
            log.warning("re-baseline of %s by %s refused: %s", req["asset_id"], req["requested_by"], exc)
            refused = RebaselineRefused(str(exc), exc.kind, req["id"])
        else:
            version = model_version(model)
            save_state_model(
                conn,
                asset_id=req["asset_id"],
                version=version,
                fitted_at=max(window["window_end"], fitted_at + timedelta(microseconds=1)),  # the newest: taken next
                train_start=window["window_start"],
                train_end=window["window_end"],
                n_rows=window["n_rows"],
                sensor_ids=sensor_ids,
                excluded=[],
                blob=dump_state_model(model),
            )
            complete_rebaseline(conn, request_id=req["id"], status="fitted", version=version, **window)
    if refused is not None:
        raise refused
    log.info("state model of %s re-baselined by %s: %s -> %s", req["asset_id"], req["requested_by"], previous, version)
    return Rebaselined(
        req["id"], req["asset_id"], version, previous, window["window_start"], window["window_end"], window["n_rows"]
    )


def _fit(
    engine: Engine, asset_id: str, hours: float
) -> tuple[CanonicalVariateStateModel, str, datetime, list[str], dict[str, Any]]:
    """The refit on the asset's last ``hours`` up to its newest reading: (model, previous version, its fit time,
    sensors, window for the audit row); :class:`RebaselineRefused` with the window if it cannot."""
    with engine.connect() as conn:
        meta = newest_model_meta(conn, asset_id=asset_id)
        if meta is None:
            raise RebaselineRefused(f"asset {asset_id!r} has no state model to re-baseline", "unknown")
        previous, fitted_at, sensor_ids = meta
        newest = last_reading_at(conn, sensor_ids=sensor_ids)
        if newest is None:
            raise RebaselineRefused(
                f"asset {asset_id!r} has no readings", "unknown", window={"previous_version": previous}
            )
        end = newest + timedelta(microseconds=1)
        start = end - timedelta(hours=hours)
        X, _ = training_rows(history(conn, sensor_ids=sensor_ids, start=start, end=end), sensor_ids, [], timedelta(0))
    window = {"window_start": start, "window_end": end, "n_rows": len(X), "previous_version": previous}
    try:
        model = fit_on_rows(X, min_rows=MIN_ROWS)
    except (TooFewRowsError, ContaminatedWindowError) as exc:
        raise RebaselineRefused(f"not re-baselined: {exc}", "refused", window=window) from exc
    except (ValueError, ArithmeticError) as exc:  # a degenerate window (a flat sensor): refused, not retried
        log.exception("re-baseline fit of %s failed", asset_id)
        raise RebaselineRefused(
            f"not re-baselined: the fit failed on this window ({exc})", "refused", window=window
        ) from exc
    return model, previous, fitted_at, sensor_ids, window
