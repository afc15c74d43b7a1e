"""Validation of parsed records against the sensor registry: ownership, value, time, unit.

Unit conversion uses pint (with the few lifeline units pint lacks defined once here); the conversion
from a sent unit to a sensor's canonical unit is resolved once per unit pair and cached as an affine
``(scale, offset)`` so the hot path is two float operations.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

import pint

from ingest.parser import RawRecord, Rejection
from ingest.sensor_cache import SensorInfo, SensorRegistry
from resilience.domain import Reading

_ureg = pint.UnitRegistry()
_ureg.define("lel_fraction = [explosive_fraction]")
_ureg.define("percent_lel = 0.01 * lel_fraction = %LEL")
_ureg.define("microstrain = 1e-6 = ue = µε")
if "permille" not in _ureg:
    _ureg.define("permille = 0.001 = ‰")

# SenML (RFC 8428 s12.1) and common field spellings that pint does not read as we mean them.
UNIT_ALIASES = {"Cel": "degC", "%": "percent", "%RH": "percent", "%LEL": "percent_lel", "m3/s": "m**3/s",
                "m3/h": "m**3/h", "l/s": "L/s", "ue": "microstrain", "µε": "microstrain", "/": "dimensionless",
                "mm/hr": "mm/h", "m/s2": "m/s**2"}


class UnitError(ValueError):
    pass


@lru_cache(maxsize=4096)
def conversion(sent: str, canonical: str) -> tuple[float, float]:
    """Affine (scale, offset) taking values in ``sent`` to ``canonical``; raises UnitError if incompatible."""
    try:
        src = _ureg.Unit(UNIT_ALIASES.get(sent, sent))
        dst = _ureg.Unit(UNIT_ALIASES.get(canonical, canonical))
        zero = _ureg.Quantity(0.0, src).to(dst).magnitude
        one = _ureg.Quantity(1.0, src).to(dst).magnitude
    except (pint.errors.UndefinedUnitError, pint.errors.DimensionalityError, ValueError, AttributeError) as exc:
        raise UnitError(f"unit {sent!r} cannot be converted to {canonical!r}") from exc
    return float(one - zero), float(zero)


@dataclass(frozen=True)
class ValidationLimits:
    max_future_s: float = 300.0
    retention_days: int = 400


def validate(records: list[RawRecord], *, utility_id: str | None, registry: SensorRegistry,
             limits: ValidationLimits, now: float | None = None) -> tuple[list[Reading], list[Rejection]]:
    """Accepted readings in canonical units, and a rejection with a reason for every other record."""
    now = time.time() if now is None else now
    oldest = now - limits.retention_days * 86400.0
    accepted: list[Reading] = []
    rejected: list[Rejection] = []
    known = registry.snapshot()
    max_t = now + limits.max_future_s
    fromtimestamp = datetime.fromtimestamp
    isfinite = math.isfinite
    append = accepted.append
    for rec in records:
        info = known.get(rec.sensor_id) or registry.get(rec.sensor_id)
        if info is None:
            rejected.append(Rejection(f"unknown sensor {rec.sensor_id!r}", rec.fragment, rec.sensor_id))
            continue
        if utility_id is not None and info.utility_id != utility_id:
            rejected.append(Rejection(f"sensor {rec.sensor_id!r} belongs to another utility", rec.fragment,
                                      rec.sensor_id))
            continue
        if not info.active:
            rejected.append(Rejection(f"sensor {rec.sensor_id!r} is decommissioned", rec.fragment, rec.sensor_id))
            continue
        value = rec.value
        vt = type(value)
        if vt is not float:
            if vt is not int:
                rejected.append(Rejection(f"value {value!r} is not a number", rec.fragment, rec.sensor_id))
                continue
            value = float(value)
        if not isfinite(value):
            rejected.append(Rejection("value is NaN or infinite", rec.fragment, rec.sensor_id))
            continue
        t = rec.t
        if t > max_t:
            rejected.append(Rejection(f"timestamp {t - now:.0f}s in the future (limit {limits.max_future_s:.0f}s)",
                                      rec.fragment, rec.sensor_id))
            continue
        if t < oldest:
            rejected.append(Rejection(f"timestamp older than retention ({limits.retention_days} days)", rec.fragment,
                                      rec.sensor_id))
            continue
        quality = 0
        unit = rec.unit
        if unit is not None and unit != info.unit:
            try:
                scale, offset = conversion(str(unit), info.unit)
            except UnitError as exc:
                rejected.append(Rejection(f"wrong unit: {exc}", rec.fragment, rec.sensor_id))
                continue
            value = value * scale + offset
            quality = 1  # converted
        append(Reading(info.sensor_id, fromtimestamp(t, UTC), value, quality))
    return accepted, rejected
