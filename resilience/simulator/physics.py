"""Vectorised clean-signal physics per sensor kind, deterministic from (seed, sensor, sample time).

Noise comes from a counter-based hash of (seed, sensor index, timestamp) rather than a stateful RNG,
so a value does not depend on how often ``step`` is called. Weather and demand are city-wide drivers
with per-sensor gains, all tuned so that normal operation stays below every blue threshold
(domain.md): water pressure >= ~0.23 MPa, drainage fill < 70 %, rain < 16.7 mm/h, CH4 < 1 %LEL ...
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from resilience.simulator.city import City

DAY = 86_400.0
TAU = 2 * math.pi

# Hourly water-demand multipliers at hour centres (domain.md: 0.4 at 03-04, 1.4 at 07-08, 1.3 at 19-20).
_DEMAND_RAW = np.array(
    [
        0.65,
        0.55,
        0.45,
        0.4,
        0.5,
        0.7,
        1.05,
        1.4,
        1.35,
        1.25,
        1.15,
        1.2,
        1.25,
        1.15,
        1.05,
        1.05,
        1.15,
        1.2,
        1.25,
        1.3,
        1.2,
        1.05,
        0.9,
        0.75,
    ]
)
_PINNED = np.zeros(24, dtype=bool)
_PINNED[[3, 7, 19]] = True


def _normalise(raw: np.ndarray) -> np.ndarray:
    out = raw.copy()
    free_target = 24.0 - out[_PINNED].sum()
    out[~_PINNED] *= free_target / out[~_PINNED].sum()
    return out


DEMAND_KNOTS = _normalise(_DEMAND_RAW)
TRAFFIC_KNOTS = np.array(
    [
        0.15,
        0.08,
        0.05,
        0.05,
        0.08,
        0.2,
        0.5,
        0.95,
        1.0,
        0.8,
        0.7,
        0.7,
        0.7,
        0.7,
        0.7,
        0.75,
        0.85,
        0.95,
        1.0,
        0.8,
        0.6,
        0.45,
        0.35,
        0.25,
    ]
)
MAX_NORMAL_RAIN = 12.0  # mm/h peak of an ordinary storm, below the 16.7 mm/h blue signal


def _periodic(knots: np.ndarray, hour: np.ndarray) -> np.ndarray:
    xs = np.arange(25) + 0.5
    ys = np.append(knots, knots[0])
    h = np.where(hour < 0.5, hour + 24.0, hour)
    return np.interp(h, xs, ys)


def demand(hour: np.ndarray) -> np.ndarray:
    """Water demand multiplier (mean 1.0 over the day)."""
    return _periodic(DEMAND_KNOTS, hour)


def traffic(hour: np.ndarray) -> np.ndarray:
    return _periodic(TRAFFIC_KNOTS, hour)


_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (numpy uint64 wraps silently)."""
    z = x + _GOLD
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def hash_uniform(seed: int, idx: np.ndarray, t: np.ndarray, salt: int) -> np.ndarray:
    """Uniform (0, 1) per (seed, sensor, second, salt)."""
    key = (idx.astype(np.uint64) << np.uint64(34)) ^ np.round(t).astype(np.int64).astype(np.uint64)
    key = key ^ np.uint64((seed * 1_000_003 + salt * 7919) & 0xFFFFFFFFFFFFFFFF)
    h = _mix(_mix(key))
    return ((h >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)


def hash_normal(seed: int, idx: np.ndarray, t: np.ndarray, salt: int) -> np.ndarray:
    u1 = hash_uniform(seed, idx, t, salt)
    u2 = hash_uniform(seed, idx, t, salt + 101)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(TAU * u2)


class Weather:
    """City-wide rainfall on a 1-minute grid and its lagged responses (drains, rivers).

    Storms are drawn per UTC day from the seed, so the grid can be regenerated for any window;
    ``forced`` storms (start epoch, duration s, peak mm/h) come from incidents that need rain.
    """

    STEP = 60.0

    def __init__(self, seed: int, forced: Sequence[tuple[float, float, float]] = ()) -> None:
        self.seed = seed
        self.forced = list(forced)
        self.t0 = 0.0
        self.t1 = -1.0
        self.rain = np.zeros(0)
        self.drain = np.zeros(0)
        self.river = np.zeros(0)

    def storms_for_day(self, day: int) -> list[tuple[float, float, float]]:
        rng = np.random.default_rng([self.seed, day, 77])
        out = []
        for _ in range(int(rng.choice([0, 1, 2], p=[0.5, 0.35, 0.15]))):
            start = day * DAY + float(rng.uniform(0, DAY))
            out.append((start, float(rng.uniform(1.0, 3.0)) * 3600, float(rng.uniform(2.0, MAX_NORMAL_RAIN))))
        return out

    @staticmethod
    def _kernel(t_fast: float, t_slow: float, length: int) -> np.ndarray:
        tau = np.arange(length) * Weather.STEP
        k = np.exp(-tau / t_slow) - np.exp(-tau / t_fast)
        return k / k.sum()

    def _build(self, t_min: float, t_max: float) -> None:
        t0 = math.floor((t_min - 3 * DAY) / DAY) * DAY  # >= 2 days of history: longest kernel
        t1 = math.ceil((t_max + DAY) / DAY) * DAY
        grid = np.arange(t0, t1 + self.STEP, self.STEP)
        rain = np.zeros_like(grid)
        storms = [s for d in range(int(t0 // DAY) - 1, int(t1 // DAY) + 1) for s in self.storms_for_day(d)]
        for start, dur, peak in storms + self.forced:
            m = (grid >= start) & (grid < start + dur)
            if m.any():
                rain[m] = np.maximum(rain[m], peak * np.sin(math.pi * (grid[m] - start) / dur) ** 2)
        self.t0, self.t1, self.rain = t0, float(grid[-1]), rain
        self.drain = np.convolve(rain, self._kernel(300.0, 2400.0, 720))[: len(grid)]
        self.river = np.convolve(rain, self._kernel(3600.0, 8 * 3600.0, 2880))[: len(grid)]

    def _ensure(self, t: np.ndarray) -> None:
        lo, hi = float(t.min()), float(t.max())
        if lo - 2 * DAY < self.t0 or hi > self.t1:
            self._build(lo, hi)

    def sample(self, series: str, t: np.ndarray) -> np.ndarray:
        self._ensure(t)
        return np.interp(t, np.arange(len(self.rain)) * self.STEP + self.t0, getattr(self, series))


class Physics:
    """Per-kind value functions over arrays of (sample time epoch s, sensor index)."""

    def __init__(self, city: City, seed: int, forced_storms: Sequence[tuple[float, float, float]] = ()) -> None:
        self.city = city
        self.seed = seed
        self.utc_offset_s = city.utc_offset_h * 3600.0
        n = len(city.sensors)
        rng = np.random.default_rng([seed, 2])
        self.u = rng.random((6, n))  # per-sensor uniforms mapped to each kind's parameter ranges
        asset_ix = {a.id: i for i, a in enumerate(city.assets)}
        district_ix = {d.id: i for i, d in enumerate(city.districts)}
        self.asset_of = np.array([asset_ix[s.asset_id] for s in city.sensors], dtype=np.int64)
        au = rng.random((4, len(city.assets)))
        self.au = au[:, self.asset_of]  # per-asset uniforms seen per sensor (shared by co-located sensors)
        dist_of_asset = np.array([district_ix[a.district_id] for a in city.assets], dtype=np.int64)
        du = rng.random((2, len(city.districts)))
        self.rain_factor = (0.8 + 0.3 * du[0])[dist_of_asset[self.asset_of]]
        self.rain_shift = (-600 + 1200 * du[1])[dist_of_asset[self.asset_of]]
        self.setpoint = np.array(
            [float(city.asset(s.asset_id).attributes.get("setpoint_mpa", 0.3)) for s in city.sensors]
        )
        site = {"bridge": 0, "utility_tunnel": 1, "heating_pipe": 2}  # what a temperature sensor is measuring
        self.temp_site = np.array([site.get(city.asset(s.asset_id).kind.value, 1) for s in city.sensors])
        self.weather = Weather(seed, forced_storms)
        self.kinds: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
            "methane": self.methane,
            "h2s": self.h2s,
            "gas_pressure": self.gas_pressure,
            "water_pressure": self.water_pressure,
            "water_flow": self.water_flow,
            "leak_noise": self.leak_noise,
            "drainage_level": self.drainage_level,
            "river_level": self.river_level,
            "road_water_depth": self.road_water_depth,
            "rainfall": self.rainfall,
            "strain": self.strain,
            "deflection": self.deflection,
            "bearing_displacement": self.bearing,
            "tilt": self.tilt,
            "vibration": self.vibration,
            "settlement": self.settlement,
            "crack_width": self.crack_width,
            "temperature": self.temperature,
            "heating_makeup_flow": self.makeup_flow,
        }

    def values(self, kind: str, t: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return self.kinds[kind](t, idx)

    # drivers ---------------------------------------------------------------------------------------
    def hour(self, t: np.ndarray) -> np.ndarray:
        return ((t + self.utc_offset_s) % DAY) / 3600.0

    def noise(self, idx: np.ndarray, t: np.ndarray, salt: int = 0) -> np.ndarray:
        return hash_normal(self.seed, idx, t, salt)

    def air_temp(self, t: np.ndarray) -> np.ndarray:
        """Seasonal (peak early August, 2-26 degC) plus a daily cycle peaking at 15h local."""
        doy = (t / DAY) % 365.25
        seasonal = 14.0 + 10.0 * np.cos(TAU * (doy - 215) / 365.25)
        return seasonal + 4.0 * np.cos(TAU * (self.hour(t) - 15.0) / 24.0)

    def _rain_response(self, series: str, t: np.ndarray, idx: np.ndarray, lag: np.ndarray | float = 0.0) -> np.ndarray:
        return self.rain_factor[idx] * self.weather.sample(series, t - self.rain_shift[idx] - lag)

    # gas -------------------------------------------------------------------------------------------
    def methane(self, t: np.ndarray, idx: np.ndarray) -> np.ndarray:
        base = 0.1 + 0.3 * self.u[0, idx]
        return np.clip(base + 0.15 * self.noise(idx, t), 0.0, 1.0)

    def h2s(self, t: np.ndarray, idx: np.ndarray) -> np.ndarray:
        base = 0.1 + 0.4 * self.u[0, idx]
        return np.clip(base + 0.1 * self.noise(idx, t), 0.0, 1.5)

    def gas_pressure(self, t: np.ndarray, idx: np.ndarray) -> np.ndarray:
        sp = self.setpoint[idx]
        load = demand(self.hour(t))
        return sp * (1.0 + 0.02 * (1.0 - load) + 0.004 * self.noise(idx, t))

    # water -----------------------------------------------------------------------------------------
    def _mean_flow(self, idx: np.ndarray) -> np.ndarray:
        return 80.0 + 600.0 * self.au[0, idx]  # m3/h, shared by the main's sensors

    def water_flow(self, t: np.ndarray, idx: np.ndarray) -> np.ndarray:
        d = demand(self.hour(t)) * (0.95 + 0.1 * self.au[3, idx])
        return self._mean_flow(idx) * d * (1.0 + 0.015 * self.noise(idx, t))

    def water_pressure(self, t: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """P = P0 - k (Q/Qavg)^1.85; night ~0.36-0.48 MPa, morning peak >= ~0.24 MPa."""
        p0 = 0.36 + 0.12 * self.au[1, idx]
        p_peak = 0.24 + 0.06 * self.au[2, idx]
        k = (p0 - p_peak) / 1.4**1.85
        q = demand(self.hour(t)) * (0.95 + 0.1 * self.au[3, idx]) / 1.05
        return p0 - k * q**1.85 + 0.003 * self.noise(idx, t)

    def leak_noise(self, t: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return 22.0 + 6.0 * self.u[0, idx] + 6.0 * traffic(self.hour(t)) + 1.0 * self.noise(idx, t)

    # drainage and flooding -------------------------------------------------------------------------
    def drainage_level(self, t: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Dry-weather fill follows sewage (demand lagged 1 h) plus the lagged, receding storm response."""
        dry = (8.0 + 12.0 * self.u[0, idx]) * (0.7 + 0.3 * demand(self.hour(t - 3600.0)))
        gain = 2.0 + 0.8 * self.u[1, idx]
        storm = gain * self._rain_response("drain", t, idx, lag=300.0 * self.u[2, idx])
        return np.clip(dry + storm + 0.4 * self.noise(idx, t), 0.0, None)

    def rainfall(self, t: np.ndarray, idx: np.ndarray) -> np.ndarray:
        r = self._rain_response("rain", t, idx)
        return np.where(r > 0.05, np.clip(r * (1.0 + 0.03 * self.noise(idx, t)), 0.0, None), 0.0)

    def river_level(self, t: np.ndarray, idx: np.ndarray) -> np.ndarray:
        base = 1.5 + 2.0 * self.au[0, idx]
        return base + 0.06 * self._rain_response("river", t, idx) + 0.01 * self.noise(idx, t)

    def road_water_depth(self, t: np.ndarray, idx: np.ndarray) -> np.ndarray:
        y = self._rain_response("drain", t, idx)
        depth = (0.2 + 0.3 * self.u[0, idx]) * np.clip(y - (7.0 + 3.0 * self.u[1, idx]), 0.0, None)
        return np.clip(depth + 0.1 * self.noise(idx, t), 0.0, None)

    # bridges ---------------------------------------------------------------------------------------
    def _bridge_temp(self, t: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Structure temperature lags air by ~2 h."""
        return self.air_temp(t - 7200.0) + 2.0 * (self.au[1, idx] - 0.5)

    def _traffic_spike(self, t: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """A vehicle on the span at the sample instant (1-3 s events, so sparse at 10 s sampling)."""
        p = 0.35 * traffic(self.hour(t))
        hit = hash_uniform(self.seed, idx, t, 5) < p
        return hit * hash_uniform(self.seed, idx, t, 6)

    def strain(self, t: np.ndarray, idx: np.ndarray) -> np.ndarray:
        offset = -50.0 + 100.0 * self.u[0, idx]
        alpha = 3.0 + 4.0 * self.u[1, idx]  # microstrain per degC
        return (
            offset
            + alpha * (self._bridge_temp(t, idx) - 15.0)
            + 40.0 * self._traffic_spike(t, idx)
            + 1.5 * self.noise(idx, t)
        )

    def deflection(self, t: np.ndarray, idx: np.ndarray) -> np.ndarray:
        beta = 0.1 + 0.15 * self.u[1, idx]  # mm per degC
        return (
            -beta * (self._bridge_temp(t, idx) - 15.0) - 6.0 * self._traffic_spike(t, idx) + 0.05 * self.noise(idx, t)
        )

    def bearing(self, t: np.ndarray, idx: np.ndarray) -> np.ndarray:
        gamma = 0.3 + 0.5 * self.u[1, idx]  # mm per degC (span expansion)
        return gamma * (self._bridge_temp(t, idx) - 15.0) + 0.05 * self.noise(idx, t)

    def vibration(self, t: np.ndarray, idx: np.ndarray) -> np.ndarray:
        amb = 0.005 + 0.01 * self.u[0, idx]
        return amb + 0.08 * self._traffic_spike(t, idx) + 0.002 * np.abs(self.noise(idx, t))

    def temperature(self, t: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Bridge deck, tunnel and heating-manhole air temperature; all stay well below 40 degC."""
        air = self.air_temp(t)
        sheltered = 18.0 + 0.3 * (air - 14.0) + 4.0 * self.u[0, idx]
        kinds = self.temp_site[idx]
        value = np.where(kinds == 0, self._bridge_temp(t, idx), sheltered + np.where(kinds == 2, 5.0, 0.0))
        return value + 0.1 * self.noise(idx, t)

    # buildings, ground -----------------------------------------------------------------------------
    def tilt(self, t: np.ndarray, idx: np.ndarray) -> np.ndarray:
        base = 0.1 + 0.5 * self.u[0, idx]
        return base + 0.02 * np.sin(TAU * self.hour(t) / 24.0) + 0.01 * self.noise(idx, t)

    def settlement(self, t: np.ndarray, idx: np.ndarray) -> np.ndarray:
        base = -(2.0 + 13.0 * self.u[0, idx])
        rate = -(0.001 + 0.004 * self.u[1, idx])  # mm/day, stable ground
        return base + rate * (t - 1_704_067_200.0) / DAY + 0.05 * self.noise(idx, t)  # trend since 2024-01-01

    def crack_width(self, t: np.ndarray, idx: np.ndarray) -> np.ndarray:
        base = 0.02 + 0.04 * self.u[0, idx]
        return base + 0.003 * np.cos(TAU * (self.hour(t) - 5.0) / 24.0) + 0.002 * self.noise(idx, t)

    # heating ---------------------------------------------------------------------------------------
    def makeup_flow(self, t: np.ndarray, idx: np.ndarray) -> np.ndarray:
        base = 2.0 + 18.0 * self.u[0, idx]
        return base * (0.9 + 0.1 * demand(self.hour(t))) * (1.0 + 0.03 * self.noise(idx, t))
