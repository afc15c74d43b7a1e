"""A demonstration schedule: one incident of every type in the first half hour, so a newcomer running
``make run`` sees anomalies, risk and alerts within minutes instead of waiting for the daily schedule."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

from resilience.simulator.city import City
from resilience.simulator.incidents import (
    INCIDENT_TYPES,
    Incident,
    _candidates,
    asset_picker,
    bearing_fault,
    blocked_drain,
    downstream_of,
    gas_leak,
    sensor_fault,
    water_main_burst,
)


def demo_schedule(
    city: City,
    start: datetime,
    seed: int,
    first_after: timedelta = timedelta(minutes=2),
    spacing: timedelta = timedelta(minutes=4),
) -> list[Incident]:
    rng = np.random.default_rng([seed, 11])
    cand = _candidates(city)
    used: set[str] = set()
    out: list[Incident] = []
    t = (start + first_after).replace(microsecond=0)
    dur = timedelta(minutes=25)

    pick = asset_picker(rng, used)

    for n, typ in enumerate(INCIDENT_TYPES, start=1):
        iid = f"DEMO-{n:02d}"
        if typ == "gas_leak" and (a := pick(cand["gas_leak"])):
            out.append(gas_leak(city, a, t, dur, 40.0, 180.0, iid))
        elif typ == "water_main_burst" and (a := pick(cand["water_main_burst"])):
            out.append(water_main_burst(city, a, t, dur, 1.0, 0.08, iid))
        elif typ == "blocked_drain" and (
            a := pick([x for x in cand["blocked_drain"] if downstream_of(city, x).id not in used])
        ):
            used.add(downstream_of(city, a).id)
            out.append(blocked_drain(city, a, downstream_of(city, a), t, dur, iid))
        elif typ == "bearing_fault" and (a := pick(cand["bearing_fault"])):
            out.append(bearing_fault(city, a, t, dur, 10.0, 70.0, iid))
        elif typ in ("stuck_sensor", "silent_sensor"):
            pool = [s for s in city.sensors if s.expected_interval_s <= 120 and s.asset_id not in used]
            s = pool[int(rng.integers(len(pool)))]
            used.add(s.asset_id)
            out.append(sensor_fault(city, s.id, typ, t, dur, iid))
        else:
            continue
        t += spacing
    return out
