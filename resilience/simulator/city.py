"""A synthetic but plausible city on real ground: Hefei's districts (``hefei.py``), with utilities, assets and
sensors deterministic from a seed and every name in Chinese and English.

The registry produced here is what the rest of the platform sees (``registry_rows`` matches the store
schema); the physics in ``physics.py`` and the incidents in ``incidents.py`` only ever refer to these ids.
Gas pipelines and drainage culverts / utility tunnels are deliberately co-located in places so that the
coupled gas-into-culvert hazard (domain.md section 9) can happen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from resilience.core.domain import ASSET_SENSOR_KINDS, SENSOR_KINDS, AssetKind
from resilience.core.translations import catalogue
from resilience.simulator.hefei import CENTER_LAT, CENTER_LON, DISTRICTS, UTILITY_NAMES, DistrictShape, district_shapes

__all__ = ["CENTER_LAT", "CENTER_LON"]
M_PER_DEG_LAT = 111_320.0
COUPLING_RADIUS_M = 50.0
PLACE_TRIES = 12  # bearings tried to keep a point placed near another inside its district

UTILITIES: tuple[tuple[str, str, str], ...] = tuple((uid, zh, en) for uid, (zh, en) in UTILITY_NAMES.items())

KIND_UTILITY: dict[AssetKind, str | None] = {
    AssetKind.GAS_PIPELINE: "gas",
    AssetKind.WATER_MAIN: "water",
    AssetKind.DRAINAGE_CULVERT: "drainage",
    AssetKind.RIVER_SECTION: "hydrology",
    AssetKind.BRIDGE: "structures",
    AssetKind.BUILDING: "structures",
    AssetKind.UTILITY_TUNNEL: "tunnels",
    AssetKind.HEATING_PIPE: "heating",
    AssetKind.ROAD: "roads",
    AssetKind.CRITICAL_FACILITY: None,  # consequence only, nobody's sensors
}

# Sensors fitted per asset (kinds may repeat: a bridge carries several strain gauges and bearings).
SENSOR_TEMPLATE: dict[AssetKind, tuple[str, ...]] = {
    **ASSET_SENSOR_KINDS,
    AssetKind.BRIDGE: (
        "strain",
        "strain",
        "deflection",
        "bearing_displacement",
        "bearing_displacement",
        "vibration",
        "temperature",
    ),
}

# Share of the sensor budget per asset kind; water mains take whatever is left.
SENSOR_SHARE: dict[AssetKind, float] = {
    AssetKind.GAS_PIPELINE: 0.12,
    AssetKind.DRAINAGE_CULVERT: 0.22,
    AssetKind.RIVER_SECTION: 0.02,
    AssetKind.BRIDGE: 0.10,
    AssetKind.BUILDING: 0.12,
    AssetKind.UTILITY_TUNNEL: 0.07,
    AssetKind.HEATING_PIPE: 0.06,
    AssetKind.ROAD: 0.07,
}

MATERIALS: dict[AssetKind, tuple[str, ...]] = {
    AssetKind.GAS_PIPELINE: ("PE", "steel", "cast_iron"),
    AssetKind.WATER_MAIN: ("ductile_iron", "cast_iron", "PVC", "steel"),
    AssetKind.DRAINAGE_CULVERT: ("concrete", "brick", "HDPE"),
    AssetKind.RIVER_SECTION: ("concrete_embankment", "earth_embankment"),
    AssetKind.BRIDGE: ("prestressed_concrete", "reinforced_concrete", "steel"),
    AssetKind.BUILDING: ("reinforced_concrete", "masonry", "steel"),
    AssetKind.UTILITY_TUNNEL: ("reinforced_concrete",),
    AssetKind.HEATING_PIPE: ("steel",),
    AssetKind.ROAD: ("asphalt", "concrete"),
    AssetKind.CRITICAL_FACILITY: ("reinforced_concrete",),
}

MAX_DISTRICTS = len(DISTRICTS)


def _words(key: str) -> tuple[str, str]:
    """A catalogue word in Chinese and English (asset kinds, facility types): one source for both."""
    return catalogue("zh-CN")[key], catalogue("en")[key]


@dataclass(frozen=True, slots=True)
class Utility:
    id: str
    name: str
    contact_email: str | None = None
    webhook_url: str | None = None
    name_zh: str | None = None
    name_en: str | None = None


@dataclass(frozen=True, slots=True)
class District:
    id: str
    name: str
    population: int
    shape: DistrictShape

    @property
    def name_zh(self) -> str:
        return self.shape.name_zh

    @property
    def name_en(self) -> str:
        return self.shape.name_en

    @property
    def polygon(self) -> dict[str, Any]:
        """GeoJSON Polygon (lon, lat order, closed ring), as the map package ships it."""
        return self.shape.polygon

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """lat_min, lat_max, lon_min, lon_max of the polygon."""
        lon0, lat0, lon1, lat1 = self.shape.inner.bounds
        return lat0, lat1, lon0, lon1


@dataclass(frozen=True, slots=True)
class Asset:
    id: str
    name: str
    kind: AssetKind
    district_id: str
    utility_id: str | None
    lat: float
    lon: float
    criticality: int
    install_year: int
    material: str
    past_incidents: int = 0
    attributes: dict[str, Any] = field(default_factory=dict)
    name_zh: str | None = None
    name_en: str | None = None


@dataclass(frozen=True, slots=True)
class Sensor:
    id: str
    asset_id: str
    utility_id: str
    kind: str
    unit: str
    expected_interval_s: float


@dataclass
class City:
    seed: int
    utilities: list[Utility]
    districts: list[District]
    assets: list[Asset]
    sensors: list[Sensor]
    utc_offset_h: float = 8.0  # local clock drives demand and traffic (China Standard Time)
    _asset_by_id: dict[str, Asset] = field(default_factory=dict, repr=False)
    _sensors_by_asset: dict[str, list[Sensor]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._asset_by_id = {a.id: a for a in self.assets}
        self._sensors_by_asset = {}
        for s in self.sensors:
            self._sensors_by_asset.setdefault(s.asset_id, []).append(s)

    def asset(self, asset_id: str) -> Asset:
        return self._asset_by_id[asset_id]

    def sensors_of(self, asset_id: str, kind: str | None = None) -> list[Sensor]:
        return [s for s in self._sensors_by_asset.get(asset_id, []) if kind is None or s.kind == kind]

    def assets_of(self, kind: AssetKind) -> list[Asset]:
        return [a for a in self.assets if a.kind is kind]

    def registry_rows(self) -> dict[str, list[dict[str, Any]]]:
        """Rows per table keyed by column name (every column except server-side ``created_at``)."""
        return {
            "utilities": [
                {
                    "id": u.id,
                    "name": u.name,
                    "name_zh": u.name_zh,
                    "name_en": u.name_en,
                    "contact_email": u.contact_email,
                    "webhook_url": u.webhook_url,
                }
                for u in self.utilities
            ],
            "districts": [
                {
                    "id": d.id,
                    "name": d.name,
                    "name_zh": d.name_zh,
                    "name_en": d.name_en,
                    "population": d.population,
                    "polygon": d.polygon,
                }
                for d in self.districts
            ],
            "assets": [
                {
                    "id": a.id,
                    "name": a.name,
                    "name_zh": a.name_zh,
                    "name_en": a.name_en,
                    "kind": a.kind.value,
                    "district_id": a.district_id,
                    "utility_id": a.utility_id,
                    "lat": a.lat,
                    "lon": a.lon,
                    "criticality": a.criticality,
                    "install_year": a.install_year,
                    "material": a.material,
                    "past_incidents": a.past_incidents,
                    "attributes": dict(a.attributes),
                }
                for a in self.assets
            ],
            "sensors": [
                {
                    "id": s.id,
                    "asset_id": s.asset_id,
                    "utility_id": s.utility_id,
                    "kind": s.kind,
                    "unit": s.unit,
                    "expected_interval_s": s.expected_interval_s,
                    "thresholds": None,
                    "detector_overrides": None,
                    "active": True,
                    "name_zh": None,
                    "name_en": None,
                }
                for s in self.sensors
            ],
        }


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Equirectangular distance: plenty accurate at city scale."""
    dy = (lat2 - lat1) * M_PER_DEG_LAT
    dx = (lon2 - lon1) * M_PER_DEG_LAT * math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot(dx, dy)


def _offset(lat: float, lon: float, dist_m: float, bearing: float) -> tuple[float, float]:
    dlat = dist_m * math.cos(bearing) / M_PER_DEG_LAT
    dlon = dist_m * math.sin(bearing) / (M_PER_DEG_LAT * math.cos(math.radians(lat)))
    return lat + dlat, lon + dlon


def _districts(rng: np.random.Generator, n: int) -> list[District]:
    """Hefei's first ``n`` districts (the urban core first), ids D01, D02, ...; the name of record is English."""
    if not 1 <= n <= MAX_DISTRICTS:
        raise ValueError(f"the demo city has 1 to {MAX_DISTRICTS} districts (Hefei's), not {n}")
    return [
        District(f"D{i + 1:02d}", shape.name_en, int(rng.integers(60_000, 400_000)), shape)
        for i, shape in enumerate(district_shapes()[:n])
    ]


class _Builder:
    """Accumulates assets and sensors with sequential ids."""

    def __init__(
        self, rng: np.random.Generator, districts: list[District], min_interval_s: float, retry: np.random.Generator
    ) -> None:
        self.rng = rng
        self.retry = retry  # points that fall outside a district are drawn again from this stream, not rng's
        self.districts = districts
        self.min_interval_s = min_interval_s
        self.assets: list[Asset] = []
        self.sensors: list[Sensor] = []
        self.counter: dict[AssetKind, int] = {}

    def point_in(self, d: District) -> tuple[float, float]:
        return d.shape.draw_point(self.rng, self.retry)

    def near(self, d: District, lat: float, lon: float, dist_m: float, bearing: float) -> tuple[float, float]:
        """``dist_m`` from (lat, lon) on ``bearing``, turned until the point lies inside ``d``; the
        starting point itself if no bearing does (it is inside: every point placed so far is)."""
        for i in range(PLACE_TRIES):
            p = _offset(lat, lon, dist_m, bearing + i * 2 * math.pi / PLACE_TRIES)
            if d.shape.contains(*p):
                return p
        return lat, lon

    def add(
        self,
        kind: AssetKind,
        district: District,
        lat: float,
        lon: float,
        attributes: dict[str, Any],
        n_sensors: int | None = None,
        names: tuple[str, str] | None = None,
    ) -> Asset:
        rng = self.rng
        k = self.counter[kind] = self.counter.get(kind, 0) + 1
        install = int(rng.integers(1965, 2024))
        age = 2024 - install
        crit = int(np.clip(rng.integers(1, 6) + (1 if kind is AssetKind.CRITICAL_FACILITY else 0), 1, 5))
        kind_zh, kind_en = _words(f"kind.{kind.value}")
        name_zh, name_en = names or (f"{kind_zh} {k}", f"{kind_en} {k}")
        asset = Asset(
            id=f"{kind.value[:3].upper()}-{k:05d}",
            name=name_en,
            name_zh=name_zh,
            name_en=name_en,
            kind=kind,
            district_id=district.id,
            utility_id=KIND_UTILITY[kind],
            lat=round(lat, 7),
            lon=round(lon, 7),
            criticality=crit,
            install_year=install,
            material=str(rng.choice(MATERIALS[kind])),
            past_incidents=int(rng.poisson(age / 40)),
            attributes=attributes,
        )
        self.assets.append(asset)
        template = SENSOR_TEMPLATE[kind]
        for sk in template[: len(template) if n_sensors is None else n_sensors]:
            spec = SENSOR_KINDS[sk]
            self.sensors.append(
                Sensor(
                    f"S{len(self.sensors) + 1:06d}",
                    asset.id,
                    asset.utility_id or "",
                    sk,
                    spec.unit,
                    float(max(spec.interval_s, self.min_interval_s)),
                )
            )
        return asset


def _attrs(rng: np.random.Generator, kind: AssetKind) -> dict[str, Any]:
    if kind is AssetKind.GAS_PIPELINE:
        cls = str(rng.choice(["medium_B", "medium_A", "sub_high_B"], p=[0.5, 0.35, 0.15]))
        setpoint = {"medium_B": 0.15, "medium_A": 0.3, "sub_high_B": 0.6}[cls]
        return {"pressure_class": cls, "setpoint_mpa": setpoint, "diameter_mm": int(rng.choice([110, 160, 250, 315]))}
    if kind is AssetKind.WATER_MAIN:
        return {"diameter_mm": int(rng.choice([200, 300, 400, 600, 800])), "dma": f"DMA-{int(rng.integers(1, 40)):02d}"}
    if kind is AssetKind.BRIDGE:
        return {
            "span_m": int(rng.integers(20, 160)),
            "type": str(rng.choice(["girder", "box_girder", "arch", "cable_stayed"])),
        }
    if kind is AssetKind.BUILDING:
        storeys = int(rng.integers(3, 34))
        return {"storeys": storeys, "height_m": round(storeys * 3.0, 1)}
    if kind is AssetKind.ROAD:
        return {"underpass": bool(rng.random() < 0.3), "lanes": int(rng.choice([2, 4, 6, 8]))}
    if kind is AssetKind.HEATING_PIPE:
        return {"circuit": str(rng.choice(["primary", "secondary"]))}
    if kind is AssetKind.UTILITY_TUNNEL:
        return {"compartments": ["power", "water", "gas"] if rng.random() < 0.6 else ["power", "water"]}
    if kind is AssetKind.RIVER_SECTION:
        return {"bank_height_m": round(float(rng.uniform(4.0, 7.0)), 2)}
    return {}


def build_city(
    seed: int = 42, n_sensors: int = 10_000, n_districts: int | None = None, min_publish_interval_s: float = 10.0
) -> City:
    """Build the city; ``min_publish_interval_s`` caps 1 Hz kinds so the registry states real intervals."""
    if n_sensors < 60:
        raise ValueError("n_sensors must be at least 60 to fit every asset kind")
    rng = np.random.default_rng([seed, 1])
    n_districts = n_districts or max(4, min(MAX_DISTRICTS, n_sensors // 800))
    districts = _districts(rng, n_districts)
    b = _Builder(rng, districts, min_publish_interval_s, np.random.default_rng([seed, 2]))

    def pick_district() -> District:
        return districts[int(rng.integers(len(districts)))]

    counts = {k: max(2, round(share * n_sensors / len(SENSOR_TEMPLATE[k]))) for k, share in SENSOR_SHARE.items()}

    gas: list[Asset] = []
    for _ in range(counts[AssetKind.GAS_PIPELINE]):
        d = pick_district()
        gas.append(b.add(AssetKind.GAS_PIPELINE, d, *b.point_in(d), _attrs(rng, AssetKind.GAS_PIPELINE)))

    # Drainage comes in chains flowing downstream; ~40% of chains start right next to a gas main.
    n_culv = counts[AssetKind.DRAINAGE_CULVERT]
    network = 0
    while n_culv > 0:
        network += 1
        length = min(n_culv, int(rng.integers(3, 8)))
        if rng.random() < 0.4:
            g = gas[int(rng.integers(len(gas)))]
            d = next(x for x in districts if x.id == g.district_id)
            lat, lon = b.near(d, g.lat, g.lon, float(rng.uniform(5, 40)), float(rng.uniform(0, 2 * math.pi)))
        else:
            d = pick_district()
            lat, lon = b.point_in(d)
        heading = float(rng.uniform(0, 2 * math.pi))
        upstream: Asset | None = None
        for pos in range(length):
            attrs: dict[str, Any] = {
                "network": f"DN-{network:04d}",
                "position": pos,
                "pipe_diameter_mm": int(rng.choice([600, 800, 1000, 1500])),
            }
            if upstream is not None:
                attrs["downstream_of"] = upstream.id
                lat, lon = b.near(d, lat, lon, float(rng.uniform(80, 200)), heading + float(rng.normal(0, 0.3)))
            upstream = b.add(AssetKind.DRAINAGE_CULVERT, d, lat, lon, attrs)
        n_culv -= length

    for kind in (
        AssetKind.UTILITY_TUNNEL,
        AssetKind.RIVER_SECTION,
        AssetKind.BRIDGE,
        AssetKind.BUILDING,
        AssetKind.HEATING_PIPE,
        AssetKind.ROAD,
    ):
        for _ in range(counts[kind]):
            if kind is AssetKind.UTILITY_TUNNEL and rng.random() < 0.5:
                g = gas[int(rng.integers(len(gas)))]
                d = next(x for x in districts if x.id == g.district_id)
                lat, lon = b.near(d, g.lat, g.lon, float(rng.uniform(5, 45)), float(rng.uniform(0, 2 * math.pi)))
            else:
                d = pick_district()
                lat, lon = b.point_in(d)
            b.add(kind, d, lat, lon, _attrs(rng, kind))

    # Water mains absorb the remaining sensor budget exactly (the last one may be partially instrumented).
    per_main = len(SENSOR_TEMPLATE[AssetKind.WATER_MAIN])
    rest = max(per_main, n_sensors - len(b.sensors))
    while rest > 0:
        d = pick_district()
        b.add(AssetKind.WATER_MAIN, d, *b.point_in(d), _attrs(rng, AssetKind.WATER_MAIN), n_sensors=min(per_main, rest))
        rest -= per_main

    for d in districts:
        for facility, lo, hi in (("hospital", 1, 3), ("school", 2, 5), ("metro_station", 1, 3)):
            word_zh, word_en = _words(f"facility.{facility}")
            for _ in range(int(rng.integers(lo, hi))):
                n = b.counter.get(AssetKind.CRITICAL_FACILITY, 0) + 1
                short_en = d.name_en.rsplit(" ", 1)[0]  # "Yaohai District" -> "Yaohai"
                b.add(
                    AssetKind.CRITICAL_FACILITY,
                    d,
                    *b.point_in(d),
                    {"facility": facility},
                    names=(f"{d.name_zh}{word_zh} {n}", f"{short_en} {word_en} {n}"),
                )

    _mark_gas_coupling(b.assets, gas)
    utilities = [
        Utility(uid, en, contact_email=f"duty@{uid}.example.org", name_zh=zh, name_en=en) for uid, zh, en in UTILITIES
    ]
    return City(seed=seed, utilities=utilities, districts=districts, assets=b.assets, sensors=b.sensors)


def _mark_gas_coupling(assets: list[Asset], gas: list[Asset]) -> None:
    """Annotate culverts/tunnels within COUPLING_RADIUS_M of a gas main (attributes are mutable dicts)."""
    glat = np.array([g.lat for g in gas])
    glon = np.array([g.lon for g in gas])
    coslat = math.cos(math.radians(CENTER_LAT))
    for a in assets:
        if a.kind not in (AssetKind.DRAINAGE_CULVERT, AssetKind.UTILITY_TUNNEL):
            continue
        d = np.hypot((glat - a.lat) * M_PER_DEG_LAT, (glon - a.lon) * M_PER_DEG_LAT * coslat)
        j = int(np.argmin(d))
        if d[j] <= COUPLING_RADIUS_M:
            a.attributes["near_gas_pipeline"] = gas[j].id
            a.attributes["gas_distance_m"] = round(float(d[j]), 1)
