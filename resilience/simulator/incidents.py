"""Injected incidents and sensor faults, with their ground truth.

Each incident is a time window plus a list of per-sensor ``Effect``s applied on top of the clean
physics. Effects share one envelope shape e(t): 0 before start, 1 - exp(-(t-start)/tau_on) while active,
e(end) * exp(-(t-end)/tau_off) after the end, which gives the methane build-up C(t)=Css(1-e^(-t/tau)),
a burst's quick step and a drain's slow creep from the same code.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np

from resilience.core.domain import AssetKind, Hazard
from resilience.simulator.city import Asset, City

IncidentType = Literal[
    "gas_leak", "water_main_burst", "blocked_drain", "bearing_fault", "stuck_sensor", "silent_sensor"
]
INCIDENT_TYPES: tuple[IncidentType, ...] = (
    "gas_leak",
    "water_main_burst",
    "blocked_drain",
    "bearing_fault",
    "stuck_sensor",
    "silent_sensor",
)
HAZARD_OF: dict[str, Hazard] = {
    "gas_leak": Hazard.GAS_EXPLOSION,
    "water_main_burst": Hazard.WATER_MAIN_BURST,
    "blocked_drain": Hazard.WATERLOGGING,
    "bearing_fault": Hazard.STRUCTURAL_FAILURE,
    "stuck_sensor": Hazard.SENSOR_FAULT,
    "silent_sensor": Hazard.SENSOR_FAULT,
}
Mode = Literal["add", "mul", "blend", "const", "drop"]


@dataclass(frozen=True, slots=True)
class Effect:
    """``add``: v + a*e; ``mul``: v*(1 + a*e); ``blend``: v*(1-e) + a*e*(v/v0) (towards a, keeping the signal's
    relative variation; v0 = clean value at start); ``const``: a (a=None: value at start); ``drop``."""

    sensor_id: str
    mode: Mode
    amount: float | None = None
    tau_on_s: float = 1.0
    tau_off_s: float = 1.0


@dataclass(slots=True)
class Incident:
    incident_id: str
    type: IncidentType
    asset_id: str
    district_id: str
    start: datetime
    end: datetime
    effects: list[Effect] = field(default_factory=list)
    storm: tuple[float, float] | None = None  # (duration s, peak mm/h) of rain this incident needs

    @property
    def hazard(self) -> Hazard:
        return HAZARD_OF[self.type]

    @property
    def sensor_ids(self) -> list[str]:
        return list(dict.fromkeys(e.sensor_id for e in self.effects))

    def truth(self) -> dict[str, Any]:
        return {
            "incident_id": self.incident_id,
            "type": self.type,
            "hazard": self.hazard.value,
            "asset_id": self.asset_id,
            "sensor_ids": self.sensor_ids,
            "district_id": self.district_id,
            "start": iso(self.start),
            "end": iso(self.end),
            # the cause ends at ``end``; its effects relax with their tau_off, 95 % gone after three of them
            "settle_s": self.settle_s,
        }

    @property
    def settle_s(self) -> float:
        """Seconds after ``end`` until every effect has relaxed to 5 % of its size (3 x its ``tau_off``)."""
        return max((3.0 * e.tau_off_s for e in self.effects if e.mode in ("add", "mul", "blend")), default=0.0)


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def envelope(t: np.ndarray, start: float, end: float, tau_on: float, tau_off: float) -> np.ndarray:
    on = 1.0 - np.exp(-np.clip(t - start, 0.0, None) / max(tau_on, 1e-9))
    e_end = 1.0 - math.exp(-(end - start) / max(tau_on, 1e-9))
    off = e_end * np.exp(-np.clip(t - end, 0.0, None) / max(tau_off, 1e-9))
    return np.where(t < start, 0.0, np.where(t < end, on, off))


def effect_horizon(e: Effect, end: float) -> float:
    """Epoch second after which the effect is negligible (< 0.1 % of its amount)."""
    return end + (7.0 * e.tau_off_s if e.mode in ("add", "mul", "blend") else 0.0)


# --- builders ---------------------------------------------------------------------------------------
def _sid(city: City, asset: Asset, kind: str) -> str:
    return city.sensors_of(asset.id, kind)[0].id


def gas_leak(
    city: City, asset: Asset, start: datetime, duration: timedelta, css: float, tau_s: float, incident_id: str
) -> Incident:
    """Gas seeps into a culvert/tunnel next to a main; ventilation clears it with the same time constant."""
    eff = [Effect(_sid(city, asset, "methane"), "add", css, tau_s, tau_s)]
    return Incident(incident_id, "gas_leak", asset.id, asset.district_id, start, start + duration, eff)


def water_main_burst(
    city: City, asset: Asset, start: datetime, duration: timedelta, flow_step: float, p_floor: float, incident_id: str
) -> Incident:
    """Inlet-flow step up and pressure collapse (domain.md section 2), isolated at ``end``."""
    eff = [
        Effect(_sid(city, asset, "water_flow"), "mul", flow_step, 60.0, 300.0),
        Effect(_sid(city, asset, "water_pressure"), "blend", p_floor, 45.0, 300.0),
    ]
    if city.sensors_of(asset.id, "leak_noise"):
        eff.append(Effect(_sid(city, asset, "leak_noise"), "add", 30.0, 30.0, 120.0))
    return Incident(incident_id, "water_main_burst", asset.id, asset.district_id, start, start + duration, eff)


def blocked_drain(
    city: City,
    asset: Asset,
    downstream: Asset,
    start: datetime,
    duration: timedelta,
    incident_id: str,
    target_fill: float = 140.0,
    tau_up_s: float = 300.0,
    tau_down_s: float = 120.0,
) -> Incident:
    """Debris blocks a pipe in a storm: the manhole above it surcharges, the next one downstream runs low.

    domain.md section 3's signature (one manhole rises, the one downstream falls). In a storm the change
    is quick: downstream loses its inflow within the pipe's travel time (``tau_down_s``, ~2 min) and the
    upstream manhole fills at the storm inflow over the storage of the pipes above it (``tau_up_s``,
    ~5 min). A dry-weather blockage (fat, silt) creeps over hours or days; pass long time constants for it.
    """
    eff = [
        Effect(_sid(city, asset, "drainage_level"), "blend", target_fill, tau_up_s, 3600.0),
        Effect(_sid(city, downstream, "drainage_level"), "mul", -0.85, tau_down_s, 1800.0),
    ]
    return Incident(
        incident_id,
        "blocked_drain",
        asset.id,
        asset.district_id,
        start,
        start + duration,
        eff,
        storm=(duration.total_seconds() + 3600.0, 9.0),
    )


def bearing_fault(
    city: City, asset: Asset, start: datetime, duration: timedelta, disp_mm: float, strain_ue: float, incident_id: str
) -> Incident:
    """Permanent step offsets on a bearing and the strain gauges (damage = permanent offset)."""
    eff = [Effect(city.sensors_of(asset.id, "bearing_displacement")[0].id, "add", disp_mm, 5.0, 1.0)]
    eff += [Effect(s.id, "add", strain_ue, 5.0, 1.0) for s in city.sensors_of(asset.id, "strain")]
    return Incident(incident_id, "bearing_fault", asset.id, asset.district_id, start, start + duration, eff)


def sensor_fault(
    city: City,
    sensor_id: str,
    kind: Literal["stuck_sensor", "silent_sensor"],
    start: datetime,
    duration: timedelta,
    incident_id: str,
) -> Incident:
    s = next(x for x in city.sensors if x.id == sensor_id)
    a = city.asset(s.asset_id)
    eff = [Effect(sensor_id, "const" if kind == "stuck_sensor" else "drop")]
    return Incident(incident_id, kind, a.id, a.district_id, start, start + duration, eff)


# --- default schedule -------------------------------------------------------------------------------
def _candidates(city: City) -> dict[str, list[Asset]]:
    downstream = {
        a.attributes["downstream_of"]: a
        for a in city.assets
        if a.kind is AssetKind.DRAINAGE_CULVERT and "downstream_of" in a.attributes
    }
    return {
        "gas_leak": [
            a
            for a in city.assets
            if a.kind in (AssetKind.DRAINAGE_CULVERT, AssetKind.UTILITY_TUNNEL)
            and "near_gas_pipeline" in a.attributes
            and city.sensors_of(a.id, "methane")
        ],
        "water_main_burst": [
            a
            for a in city.assets
            if a.kind is AssetKind.WATER_MAIN
            and city.sensors_of(a.id, "water_flow")
            and city.sensors_of(a.id, "water_pressure")
        ],
        "blocked_drain": [
            a
            for a in city.assets
            if a.id in downstream
            and city.sensors_of(a.id, "drainage_level")
            and city.sensors_of(downstream[a.id].id, "drainage_level")
        ],
        "bearing_fault": [
            a for a in city.assets if a.kind is AssetKind.BRIDGE and city.sensors_of(a.id, "bearing_displacement")
        ],
        "_downstream": list(downstream.values()),
    }


def downstream_of(city: City, asset: Asset) -> Asset:
    return next(a for a in city.assets if a.attributes.get("downstream_of") == asset.id)


def asset_picker(rng: np.random.Generator, used: set[str]) -> Callable[[list[Asset]], Asset | None]:
    """Draws a random asset from a pool, never one already ``used`` (incidents never share an asset)."""

    def pick(pool: list[Asset]) -> Asset | None:
        free = [a for a in pool if a.id not in used]
        if not free:
            return None
        a = free[int(rng.integers(len(free)))]
        used.add(a.id)
        return a

    return pick


def default_schedule(city: City, start: datetime, seed: int, days: int = 1, per_type: int = 2) -> list[Incident]:
    """``per_type`` incidents of every type per simulated day, on distinct assets, at random times.

    Bursts start at night (00-05 h local) when they are easiest to see against minimum night flow.
    """
    rng = np.random.default_rng([seed, 3])
    cand = _candidates(city)
    used: set[str] = set()
    out: list[Incident] = []
    offset = timedelta(hours=city.utc_offset_h)

    pick = asset_picker(rng, used)

    def minutes(lo: float, hi: float) -> timedelta:
        return timedelta(minutes=float(rng.integers(int(lo), int(hi))))

    def when(day: int, dur: timedelta, lo_h: float = 0.5) -> datetime:
        """A start on ``day`` such that the incident (and a 30 min tail) ends within that day."""
        hi_h = 24.0 - dur.total_seconds() / 3600 - 0.5
        base = start + timedelta(days=day)
        return (base + timedelta(seconds=float(rng.uniform(lo_h, max(lo_h, hi_h))) * 3600)).replace(microsecond=0)

    n = 0
    for day in range(days):
        for _ in range(per_type):
            for typ in INCIDENT_TYPES:
                n += 1
                iid = f"INC-{n:04d}"
                if typ == "gas_leak" and (a := pick(cand["gas_leak"])):
                    dur = minutes(60, 180)
                    out.append(
                        gas_leak(
                            city, a, when(day, dur), dur, float(rng.uniform(25, 60)), float(rng.uniform(120, 360)), iid
                        )
                    )
                elif typ == "water_main_burst" and (a := pick(cand["water_main_burst"])):
                    dur = minutes(90, 240)
                    midnight = (start + offset).replace(hour=0, minute=0, second=0, microsecond=0) - offset
                    if midnight < start:
                        midnight += timedelta(days=1)
                    room = (start + timedelta(days=day + 1) - dur - midnight - timedelta(days=day)).total_seconds()
                    if room > 0:  # a night-time start (00-05 h local) that still ends inside this day's window
                        t = midnight + timedelta(days=day, seconds=float(rng.uniform(0, min(5 * 3600, room))))
                    else:
                        t = when(day, dur)
                    out.append(
                        water_main_burst(
                            city,
                            a,
                            t.replace(microsecond=0),
                            dur,
                            float(rng.uniform(0.6, 1.5)),
                            float(rng.uniform(0.06, 0.12)),
                            iid,
                        )
                    )
                elif typ == "blocked_drain" and (
                    a := pick([x for x in cand["blocked_drain"] if downstream_of(city, x).id not in used])
                ):
                    d = downstream_of(city, a)
                    used.add(d.id)
                    dur = minutes(120, 200)
                    out.append(blocked_drain(city, a, d, when(day, dur, 1.0), dur, iid))
                elif typ == "bearing_fault" and (a := pick(cand["bearing_fault"])):
                    dur = minutes(240, 360)
                    out.append(
                        bearing_fault(
                            city, a, when(day, dur), dur, float(rng.uniform(5, 15)), float(rng.uniform(40, 100)), iid
                        )
                    )
                elif typ in ("stuck_sensor", "silent_sensor"):
                    pool = [s for s in city.sensors if s.expected_interval_s <= 300 and s.asset_id not in used]
                    s = pool[int(rng.integers(len(pool)))]
                    used.add(s.asset_id)
                    dur = minutes(60, 180)
                    out.append(sensor_fault(city, s.id, typ, when(day, dur), dur, iid))
    return sorted(out, key=lambda i: i.start)


def write_ground_truth(path: str | Path, incidents: list[Incident]) -> None:
    Path(path).write_text(json.dumps([i.truth() for i in incidents], indent=2) + "\n")
