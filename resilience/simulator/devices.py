"""Report by exception: what the field devices do between their periodic reports.

Lifeline sensors sample more often than they transmit. They send on a schedule (``expected_interval_s``)
and, in between, at once when the value crosses one of the kind's graded limits or moves by more than a
deadband since the last report (domain.md section 3: "immediate on exceedance" [R22]; section 1: methane
goes to 30-60 s once at or above blue). This is the change-of-value reporting of SCADA and IoT devices
(DNP3 deadbands, BACnet COV). The deadbands below are device settings (D): several times the signal's
noise, so a clean signal rarely sends an extra report, and about the size of a material change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from resilience.core.domain import SENSOR_KINDS, Direction

#: kind -> (absolute deadband in the canonical unit, relative deadband as a fraction of the last report).
#: A report goes out when |v - last| exceeds the larger of the two. Kinds not listed have no deadband
#: (graded limit crossings still report).
DEADBAND: dict[str, tuple[float, float]] = {
    "methane": (2.0, 0.0),  # %LEL; noise ~0.15
    "h2s": (2.0, 0.0),  # ppm; noise ~0.1
    "gas_pressure": (0.0, 0.03),  # 3 % of the last report; noise ~0.4 %
    "water_pressure": (0.02, 0.0),  # MPa; noise 0.003
    "water_flow": (0.0, 0.10),  # 10 %; noise 1.5 %
    "leak_noise": (5.0, 0.0),  # dB; noise 1
    "drainage_level": (5.0, 0.0),  # % fill; noise 0.4
    "river_level": (0.1, 0.0),  # m; noise 0.01
    "road_water_depth": (3.0, 0.0),  # cm; noise 0.1
    "rainfall": (10.0, 0.0),  # mm/h
    "tilt": (0.2, 0.0),  # permille
    "crack_width": (0.05, 0.0),  # mm
    "settlement": (1.0, 0.0),  # mm
    "temperature": (3.0, 0.0),  # degC
    "heating_makeup_flow": (0.0, 0.20),
}


@dataclass
class ExceptionReporter:
    """Per-sensor device state: the last value and time sent, and the graded limits it watches.

    ``probe_s`` is how often a device samples internally; sensors that already transmit at least that
    often have nothing to add and are left out.
    """

    kinds: Sequence[str]
    intervals: np.ndarray
    probe_s: float = 5.0

    def __post_init__(self) -> None:
        n = len(self.kinds)
        self.watched = np.nonzero(self.intervals > self.probe_s)[0]
        self.abs_db = np.full(n, np.inf)
        self.rel_db = np.zeros(n)
        self.limits = np.full((n, 4), np.inf)  # sign-adjusted limits, blue..red
        self.sign = np.ones(n)
        for i, kind in enumerate(self.kinds):
            a, r = DEADBAND.get(kind, (np.inf, 0.0))
            self.abs_db[i], self.rel_db[i] = a, r
            spec = SENSOR_KINDS.get(kind)
            if spec is None or not spec.thresholds or spec.direction is Direction.BOTH:
                continue
            self.sign[i] = -1.0 if spec.direction is Direction.BELOW else 1.0
            lims = sorted(self.sign[i] * v for v in spec.thresholds.values())
            self.limits[i, : len(lims)] = lims
        self.last_v = np.full(n, np.nan)
        self.last_t = np.full(n, -np.inf)

    def level(self, idx: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Number of graded limits reached (0 = none .. 4 = red), vectorised."""
        return ((self.sign[idx] * v)[:, None] >= self.limits[idx]).sum(axis=1)

    def sent(self, idx: np.ndarray, t: np.ndarray, v: np.ndarray) -> None:
        """Record reports (time-ordered; for repeated sensors the last one wins)."""
        self.last_v[idx] = v
        self.last_t[idx] = t

    def exceptions(self, t: float, v: np.ndarray) -> np.ndarray:
        """Indices (into ``watched``) of devices that report now given their sampled values ``v``."""
        idx = self.watched
        last = self.last_v[idx]
        have = np.isfinite(last) & np.isfinite(v) & (self.last_t[idx] < t)
        band = np.maximum(self.abs_db[idx], self.rel_db[idx] * np.abs(last))
        moved = np.abs(v - last) > band
        crossed = self.level(idx, np.nan_to_num(v)) != self.level(idx, np.nan_to_num(last))
        return np.nonzero(have & (moved | crossed))[0]
