"""Validation of parsed records against the sensor registry: ownership, value, time, unit.

Sent units are only looked up in the allowlist of ``ingest.units``, never evaluated as unit
expressions; each accepted spelling carries a precomputed affine ``(scale, offset)`` so the hot path
is two float operations. Every record becomes a ``Reading`` or a ``Rejection`` with a reason: nothing
a sender puts in a record makes ``validate`` raise.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from ingest.parser import MAX_ABS_TIME, MAX_ABS_VALUE, RawRecord, Rejection, int_value_reason, quote
from ingest.sensor_cache import SensorInfo, SensorRegistry
from ingest.units import ACCEPTED, ACCEPTED_TEXT, IDENTITY
from resilience.core.domain import Reading

# (sent, canonical) -> (scale, offset): one dict lookup on the hot path (``conversion`` explains a miss).
_PAIRS: dict[tuple[str, str], tuple[float, float]] = {
    (sent, canonical): affine for canonical, table in ACCEPTED.items() for sent, affine in table.items()
}

__all__ = ["RegistryView", "SensorInfo", "SensorRegistry", "UnitError", "ValidationLimits", "conversion", "validate"]


class RegistryView(Protocol):
    """What validation needs of ``SensorRegistry`` (so tests and tools can pass an in-memory one)."""

    def snapshot(self) -> Mapping[str, SensorInfo]: ...

    def get(self, sensor_id: str) -> SensorInfo | None: ...


class UnitError(ValueError):
    """A sent unit that is not an accepted spelling of the sensor's canonical unit."""


def conversion(sent: str, canonical: str) -> tuple[float, float]:
    """Affine (scale, offset) taking values in ``sent`` to ``canonical``; UnitError unless allowlisted."""
    if type(sent) is not str:
        raise UnitError(f"unit is not a string (got {type(sent).__name__})")
    if sent == canonical:
        return IDENTITY
    table = ACCEPTED.get(canonical)
    affine = table.get(sent) if table is not None else None
    if affine is None:
        accepted = ACCEPTED_TEXT.get(canonical, repr(canonical))
        raise UnitError(f"unit {quote(sent)} cannot be converted to {canonical!r}; accepted: {accepted}")
    return affine


@dataclass(frozen=True)
class ValidationLimits:
    max_future_s: float = 300.0
    retention_days: int = 400


def _as_number(value: Any) -> tuple[float, str]:
    """``(value as a float, "")`` for a usable number, else ``(0.0, reason)``; never raises."""
    vt = type(value)
    if vt is int:
        if -MAX_ABS_VALUE <= value <= MAX_ABS_VALUE:
            return float(value), ""
        return 0.0, int_value_reason(value)
    if vt is float:
        if not math.isfinite(value):
            return 0.0, "value is NaN or infinite"
        if not -MAX_ABS_VALUE <= value <= MAX_ABS_VALUE:
            return 0.0, f"value out of range (|v| > {MAX_ABS_VALUE:.0e})"
        return value, ""
    if vt is str:
        return 0.0, f"value {quote(value)} is not a number"
    if vt is bool:
        return 0.0, f"value {str(value).lower()} is not a number (booleans are not readings)"
    return 0.0, f"value of type {vt.__name__} is not a number"


def _as_time(t: Any, *, now: float, oldest: float, newest: float, limits: ValidationLimits) -> tuple[float, str]:
    """``(t as epoch seconds, "")`` inside the accepted window, else ``(0.0, reason)``; never raises."""
    tt = type(t)
    if tt is int:
        if not -MAX_ABS_TIME < t < MAX_ABS_TIME:
            return 0.0, "bad time: time is out of range"
        t = float(t)
    elif tt is not float:
        return 0.0, f"bad time: time of type {tt.__name__} is not a number"
    if t != t:
        return 0.0, "bad time: time is not finite"
    if t > newest:
        ahead = f"{t - now:.0f}s" if t - now < 1e12 else "far"
        return 0.0, f"timestamp {ahead} in the future (limit {limits.max_future_s:.0f}s)"
    if t < oldest:
        return 0.0, f"timestamp older than retention ({limits.retention_days} days)"
    return t, ""


def _sensor_verdicts(
    sensor_ids: set[str], *, utility_id: str | None, registry: RegistryView
) -> dict[str, SensorInfo | str]:
    """Each distinct sensor of a batch once: its registry row, or why none of its records is accepted."""
    known = registry.snapshot()
    verdicts: dict[str, SensorInfo | str] = {}
    for sid in sensor_ids:
        info = known.get(sid) or registry.get(sid)
        if info is None:
            verdicts[sid] = f"unknown sensor {quote(sid, 64)}"
        elif utility_id is not None and info.utility_id != utility_id:
            verdicts[sid] = f"sensor {sid!r} belongs to another utility"
        elif not info.active:
            verdicts[sid] = f"sensor {sid!r} is decommissioned"
        else:
            verdicts[sid] = info
    return verdicts


def validate(
    records: list[RawRecord],
    *,
    utility_id: str | None,
    registry: RegistryView,
    limits: ValidationLimits,
    now: float | None = None,
) -> tuple[list[Reading], list[Rejection]]:
    """Accepted readings in canonical units, and a rejection with a reason for every other record.

    The registry is consulted once per distinct sensor, not per record; the loop stays in one piece on
    purpose (a helper call per record costs more than the checks it would hold)."""
    now = time.time() if now is None else now
    oldest = now - limits.retention_days * 86400.0
    accepted: list[Reading] = []
    rejected: list[Rejection] = []
    verdicts = _sensor_verdicts({rec[0] for rec in records}, utility_id=utility_id, registry=registry)
    max_t = now + limits.max_future_s
    fromtimestamp = datetime.fromtimestamp
    append, reject = accepted.append, rejected.append
    hi = MAX_ABS_VALUE
    lo = -hi
    pairs = _PAIRS
    for sid, t, value, unit, fragment in records:
        info = verdicts[sid]
        if isinstance(info, str):
            reject(Rejection(info, fragment, sid))
            continue
        if type(value) is not float or not lo <= value <= hi:
            value, why = _as_number(value)
            if why:
                reject(Rejection(why, fragment, sid))
                continue
        if type(t) is not float or not oldest <= t <= max_t:
            t, why = _as_time(t, now=now, oldest=oldest, newest=max_t, limits=limits)
            if why:
                reject(Rejection(why, fragment, sid))
                continue
        quality = 0
        if unit is not None and unit != info.unit:
            affine = pairs.get((unit, info.unit)) if type(unit) is str else None
            if affine is None:
                try:
                    affine = conversion(unit, info.unit)
                except UnitError as exc:
                    reject(Rejection(f"wrong unit: {exc}", fragment, sid))
                    continue
            value = value * affine[0] + affine[1]
            if not lo <= value <= hi:
                reject(Rejection(f"value out of range after conversion to {info.unit!r}", fragment, sid))
                continue
            quality = 1  # converted
        append(Reading(info.sensor_id, fromtimestamp(t, UTC), value, quality))
    return accepted, rejected
