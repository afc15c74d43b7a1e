"""Domain vocabulary shared by every part of the platform.

Levels follow the Emergency Response Law (2007) art. 42: red (grade 1, highest), orange, yellow, blue.
Sensor kinds carry their canonical unit, expected sampling interval and default graded thresholds
(see ``../shared/design/domain.md``); a sensor row may override thresholds per sensor.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class Level(enum.IntEnum):
    """Graded warning level; the integer order is severity (NONE < BLUE < ... < RED)."""

    NONE = 0
    BLUE = 1
    YELLOW = 2
    ORANGE = 3
    RED = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str | int | Level) -> Level:
        if isinstance(value, Level):
            return value
        if isinstance(value, int):
            return cls(value)
        return cls[value.strip().upper()]


class AssetKind(str, enum.Enum):
    GAS_PIPELINE = "gas_pipeline"
    WATER_MAIN = "water_main"
    DRAINAGE_CULVERT = "drainage_culvert"
    RIVER_SECTION = "river_section"
    BRIDGE = "bridge"
    BUILDING = "building"
    UTILITY_TUNNEL = "utility_tunnel"
    HEATING_PIPE = "heating_pipe"
    ROAD = "road"
    CRITICAL_FACILITY = "critical_facility"  # hospitals, schools, metro stations (consequence only)


class Hazard(str, enum.Enum):
    GAS_EXPLOSION = "gas_explosion"
    WATER_MAIN_BURST = "water_main_burst"
    WATERLOGGING = "waterlogging"
    STRUCTURAL_FAILURE = "structural_failure"
    GROUND_COLLAPSE = "ground_collapse"
    HEATING_LEAK = "heating_leak"
    TOXIC_ATMOSPHERE = "toxic_atmosphere"  # H2S or oxygen deficiency in tunnels and culverts (confined spaces)
    SENSOR_FAULT = "sensor_fault"
    PLATFORM = "platform"  # the monitoring platform itself not keeping up (a stalled worker)


class Direction(str, enum.Enum):
    """Which side of a threshold is dangerous."""

    ABOVE = "above"
    BELOW = "below"
    BOTH = "both"


@dataclass(frozen=True)
class SensorKindSpec:
    """What a kind of sensor measures, in which canonical unit, how often, and its default graded limits.

    ``thresholds`` maps a level name to the limit for that level; ``direction`` says whether values above
    or below the limit are dangerous. ``seasonal`` marks demand- or weather-driven signals that need an
    hour-of-week baseline rather than a flat one.
    """

    name: str
    unit: str
    interval_s: float
    direction: Direction
    thresholds: dict[str, float] = field(default_factory=dict)
    seasonal: bool = False
    description: str = ""


# A value frozen (the same reading, 5 readings or more) for this long is a stuck sensor: the fault's
# definition (domain.md: zero variance over N samples), shared by the flatline detector and the evaluation.
STUCK_AFTER_S = 600.0

# Canonical units are pint-parsable strings. Values from shared/design/domain.md (sourced or D = default).
SENSOR_KINDS: dict[str, SensorKindSpec] = {
    s.name: s
    for s in [
        SensorKindSpec(
            "methane",
            "percent_lel",
            60,
            Direction.ABOVE,
            {"blue": 5, "yellow": 10, "orange": 20, "red": 50},
            description="CH4 in wells, manholes, culverts next to gas mains (%LEL)",
        ),
        SensorKindSpec("h2s", "ppm", 60, Direction.ABOVE, {"blue": 5, "yellow": 7, "orange": 14, "red": 20}),
        SensorKindSpec("gas_pressure", "MPa", 60, Direction.BOTH, {}, description="gas pipe pressure"),
        SensorKindSpec(
            "water_pressure",
            "MPa",
            60,
            Direction.BELOW,
            {"blue": 0.20, "yellow": 0.16, "orange": 0.14, "red": 0.10},
            seasonal=True,
        ),
        SensorKindSpec("water_flow", "m**3/h", 60, Direction.ABOVE, {}, seasonal=True),
        SensorKindSpec("leak_noise", "dB", 300, Direction.ABOVE, {}),
        SensorKindSpec(
            "drainage_level",
            "percent",
            60,
            Direction.ABOVE,
            {"blue": 70, "yellow": 85, "orange": 100, "red": 120},
            seasonal=True,
            description="manhole fill, % of pipe crown height",
        ),
        SensorKindSpec("river_level", "m", 300, Direction.ABOVE, {}, seasonal=True),
        SensorKindSpec(
            "road_water_depth", "cm", 60, Direction.ABOVE, {"blue": 5, "yellow": 15, "orange": 25, "red": 40}
        ),
        SensorKindSpec(
            "rainfall",
            "mm/h",
            60,
            Direction.ABOVE,
            {"blue": 16.7, "yellow": 25.0, "orange": 33.3, "red": 60.0},
            description="hourly intensity; CMA signals re-expressed per hour",
        ),
        SensorKindSpec("strain", "microstrain", 1, Direction.BOTH, {}),
        SensorKindSpec("deflection", "mm", 1, Direction.BOTH, {}),
        SensorKindSpec("bearing_displacement", "mm", 1, Direction.BOTH, {}),
        SensorKindSpec("tilt", "permille", 600, Direction.ABOVE, {"blue": 1, "yellow": 2, "orange": 4, "red": 7}),
        SensorKindSpec("vibration", "m/s**2", 1, Direction.ABOVE, {}),
        SensorKindSpec("settlement", "mm", 3600, Direction.BOTH, {}),
        SensorKindSpec(
            "crack_width", "mm", 600, Direction.ABOVE, {"blue": 0.1, "yellow": 0.2, "orange": 0.3, "red": 1.0}
        ),
        SensorKindSpec("temperature", "degC", 300, Direction.ABOVE, {"yellow": 40, "orange": 50, "red": 60}),
        SensorKindSpec("heating_makeup_flow", "m**3/h", 300, Direction.ABOVE, {}, seasonal=True),
    ]
}

# Which sensor kinds are typically fitted to which asset kinds (used by the simulator and the risk model).
ASSET_SENSOR_KINDS: dict[AssetKind, tuple[str, ...]] = {
    AssetKind.GAS_PIPELINE: ("methane", "gas_pressure"),
    AssetKind.WATER_MAIN: ("water_pressure", "water_flow", "leak_noise"),
    AssetKind.DRAINAGE_CULVERT: ("drainage_level", "methane", "h2s"),
    AssetKind.RIVER_SECTION: ("river_level", "rainfall"),
    AssetKind.BRIDGE: ("strain", "deflection", "bearing_displacement", "vibration", "temperature"),
    AssetKind.BUILDING: ("tilt", "settlement", "crack_width"),
    AssetKind.UTILITY_TUNNEL: ("methane", "h2s", "temperature"),
    AssetKind.HEATING_PIPE: ("heating_makeup_flow", "temperature"),
    AssetKind.ROAD: ("road_water_depth", "settlement"),
    AssetKind.CRITICAL_FACILITY: (),
}


def level_for_value(value: float, thresholds: dict[str, float], direction: Direction) -> Level:
    """Grade a value against graded limits: the highest level whose limit is reached."""
    best = Level.NONE
    for name, limit in thresholds.items():
        lvl = Level.parse(name)
        hit = value >= limit if direction is not Direction.BELOW else value <= limit
        if hit and lvl > best:
            best = lvl
    return best


@dataclass(frozen=True, slots=True)
class Reading:
    """One accepted reading in the sensor's canonical unit."""

    sensor_id: str
    ts: datetime
    value: float
    quality: int = 0  # 0 = good; non-zero flags (e.g. 1 = converted, 2 = suspect) are reserved
