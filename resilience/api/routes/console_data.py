"""What the operations console reads in one request each: the map, an asset's sensors with their limits,
an alert's timeline against response targets, the 24 h spectrum replay and response times by district.

Each answer is shaped for one screen so a page needs one round trip, not one per district or asset.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse

from alerts import store as alert_store
from alerts.api_support import get_rules, history
from alerts.reports import _stats
from resilience.core.display import unit_label
from resilience.store.db import Connection
from resilience.api.auth import HistoryReader, Watcher
from resilience.api.deps import BigId, ConnDep, IdPath, utc_window
from resilience.api.forecasts import forecasts_for
from resilience.api.openapi_errors import errors
from resilience.api.schemas import (
    AlertTimeline,
    AlertValues,
    ConsoleAsset,
    ConsoleMap,
    ResponseTimesByPlace,
    SpectrumReplay,
)
from resilience.core.domain import SENSOR_KINDS, Direction, Level
from resilience.store import console_reads as reads
from resilience.store.alert_feed import alert_console_view

router = APIRouter(prefix="/api/v1/console", tags=["console"])

COUPLING_FACTORS = ("coupling", "coupling_bump")


def targets_for(hazard: str | None, level: Level) -> dict[str, float | None]:
    """The response targets of an alert of ``hazard`` at ``level``, from the loaded alert rules (escalation
    policies for the acknowledgement, ``response_targets`` for on site and disposed)."""
    return get_rules().response_targets_for(hazard, level)


def _asset_risk(rows: list[Any]) -> tuple[dict[str, dict[str, str]], list[dict[str, Any]]]:
    """Per asset its level for each hazard, and the coupled-risk links the risk model is applying now."""
    levels: dict[str, dict[str, str]] = {}
    links: list[dict[str, Any]] = []
    for scope, hazard, level, factors in rows:
        asset_id = scope.split(":", 1)[1]
        levels.setdefault(asset_id, {})[hazard] = Level(level).label
        for f in factors or []:
            if isinstance(f, dict) and f.get("name") in COUPLING_FACTORS and f.get("source"):
                links.append(
                    {
                        "source": f["source"],
                        "target": asset_id,
                        "hazard": hazard,
                        "rule": f.get("rule"),
                        "level": Level(level).label,
                        "detail": f.get("detail", ""),
                    }
                )
    return levels, links


def map_districts(conn: Connection) -> list[dict[str, Any]]:
    """Every district (GeoJSON polygon, names, population) with its level per hazard (``MapDistrict``)."""
    levels: dict[str, dict[str, str]] = {}
    for scope, hazard, level, _f in reads.risk_levels(conn, "district:"):
        levels.setdefault(scope.split(":", 1)[1], {})[hazard] = Level(level).label
    return [{**d, "levels": levels.get(d["id"], {})} for d in reads.district_rows(conn)]


@router.get("/map", response_class=JSONResponse, response_model=ConsoleMap)
def console_map(conn: ConnDep, _: Watcher) -> JSONResponse:
    """Districts (GeoJSON) with their level per hazard, every asset with its levels, and coupled-risk links.

    Every value is plain JSON already, so it is written straight out: FastAPI's encoder walking 3,000 assets
    took longer than the queries."""
    districts = map_districts(conn)
    asset_levels, links = _asset_risk(reads.risk_levels(conn, "asset:", COUPLING_FACTORS))
    asset_rows = reads.asset_rows(conn)
    hazards = sorted({h for lv in (*(d["levels"] for d in districts), *asset_levels.values()) for h in lv})
    return JSONResponse(
        {
            "hazards": hazards,
            "districts": districts,
            "assets": [{**a, "levels": asset_levels.get(a["id"], {})} for a in asset_rows],
            "links": links,
        }
    )


def effective_limits(kind: str, override: dict[str, Any] | None) -> tuple[dict[str, float], str | None]:
    """A sensor's graded limits (its own override, else its kind's defaults) and which side is dangerous."""
    spec = SENSOR_KINDS.get(kind)
    limits = dict(spec.thresholds) if spec else {}
    if isinstance(override, dict):
        limits.update(
            {
                k: float(v)
                for k, v in override.items()
                if k in ("blue", "yellow", "orange", "red") and isinstance(v, int | float)
            }
        )
    return limits, spec.direction.value if spec else None


@router.get("/assets/{id}", response_model=ConsoleAsset, responses=errors(404))
def console_asset(id: IdPath, conn: ConnDep, _: Watcher) -> dict[str, Any]:
    """The asset, its district's name, its sensors with their effective limits, and its current risk."""
    asset = reads.asset_row(conn, id)
    if asset is None:
        raise HTTPException(404, f"asset {id} not found")
    district = alert_store.district_row(conn, asset["district_id"]) if asset["district_id"] else None
    out_sensors = []
    for s in reads.asset_sensors(conn, id):
        limits, direction = effective_limits(s["kind"], s["thresholds"])
        out_sensors.append(
            {
                "id": s["id"],
                "kind": s["kind"],
                "unit": s["unit"],
                "unit_label": unit_label(s["unit"]),  # "%LEL" for percent_lel, as explanations write it
                "active": s["active"],
                "expected_interval_s": s["expected_interval_s"],
                "limits": limits,
                "direction": direction,
            }
        )
    risk = reads.scope_risk(conn, f"asset:{id}")
    return {
        "asset": asset,
        "district_name": district["name"] if district else None,
        "district_name_zh": district.get("name_zh") if district else None,
        "district_name_en": district.get("name_en") if district else None,
        "sensors": out_sensors,
        "risk": [{**r, "level": Level(r["level"]).label} for r in risk],
        "forecasts": forecasts_for(conn, datetime.now(UTC), asset_ids=[id]),  # warning before the limit
    }


CURRENT_LOOKBACK = timedelta(hours=6)  # a newest reading older than this is "no recent reading"
LIVE_ALERTS_MAX = 2000
PEAK_WINDOW = timedelta(days=1)  # the peak of a longer alert is over its last day


def _onset_value(evidence: dict[str, Any]) -> float | None:
    value = (evidence or {}).get("value")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _value_view(row: dict[str, Any] | None, now: datetime) -> dict[str, Any] | None:
    if row is None or row.get("ts") is None:
        return None
    return {
        "value": row["value"],
        "ts": row["ts"],
        "age_s": max(0.0, (now - row["ts"]).total_seconds()),
        "unit_label": unit_label(row["unit"]),
    }


@router.get("/alerts/values", response_model=AlertValues)
def alert_values(conn: ConnDep, _: Watcher) -> dict[str, Any]:
    """What is true now for every live alert: each of its sensors' newest reading with its time and age, how
    long the condition has lasted, and the onset value; the console polls this so the numbers never go stale."""
    now = datetime.now(UTC)
    live = reads.live_alerts(conn, LIVE_ALERTS_MAX)
    current = reads.current_values(conn, [s for a in live for s in a.sensor_ids], now - CURRENT_LOOKBACK)
    data = {}
    for a in live:
        sensors = [
            {"sensor_id": sid, "kind": current[sid]["kind"] if sid in current else None}
            | (_value_view(current.get(sid), now) or {"value": None, "ts": None, "age_s": None, "unit_label": None})
            for sid in a.sensor_ids
        ]
        onset = a.condition_since
        data[str(a.id)] = {
            "sensors": sensors,
            "active_for_s": max(0.0, ((a.cleared_at or now) - onset).total_seconds()),
            "onset": {"at": onset, "value": _onset_value(a.evidence)},
            "condition": "cleared" if a.cleared_at is not None else "active",
        }
    return {"now": now, "data": data, "count": len(data), "partial": len(live) >= LIVE_ALERTS_MAX}


def _peaks(conn: ConnDep, view: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
    """Per sensor of the alert: now, the onset and the peak since it fired (on the kind's dangerous side)."""
    sensors = list(view.get("sensor_ids") or [])
    onset_at = view["onset_at"]  # Alert.condition_since, in the alert's view
    extremes = reads.sensor_extremes(conn, sensors, max(onset_at, now - PEAK_WINDOW))
    current = reads.current_values(conn, sensors, now - CURRENT_LOOKBACK)
    onset = _onset_value(view.get("evidence") or {})
    out = []
    for sid in sensors:
        low, high = extremes.get(sid, (None, None))
        spec = SENSOR_KINDS.get((current.get(sid) or {}).get("kind") or "")
        peak = low if spec is not None and spec.direction is Direction.BELOW else high  # the dangerous side
        out.append({"sensor_id": sid, "current": _value_view(current.get(sid), now), "onset": onset, "peak": peak})
    return out


@router.get("/alerts/{alert_id}/timeline", response_model=AlertTimeline, responses=errors(404))
def alert_timeline(alert_id: BigId, conn: ConnDep, _: Watcher) -> dict[str, Any]:
    """Every step of the alert with who and when, and fire-to-ack / on-site / disposed against the targets."""
    view = alert_console_view(conn, alert_id)
    if view is None:
        raise HTTPException(404, f"alert {alert_id} not found")
    past = history(conn, alert_id)
    steps = sorted(
        [
            {
                "source": "transition",
                **{k: t[k] for k in ("id", "ts", "kind", "actor", "note", "level")},
                "message": (t["data"] or {}).get("message"),  # the note as a code, for the viewer's language
                "unit": (t["data"] or {}).get("to") or (t["data"] or {}).get("unit"),  # who was assigned / acted
            }
            for t in past["transitions"]
        ],
        key=lambda s: (s["ts"], s["id"]),
    )
    level = Level.parse(view["level"])
    targets = targets_for(view["hazard"], level)
    fired = view["fired_at"]
    reached = {"ack": view["acknowledged_at"]}
    for a in past["actions"]:
        if a["fire_count"] == view["fire_count"] and a["step"] in ("on_site", "disposed"):
            prev = reached.get(a["step"])
            reached[a["step"]] = a["ts"] if prev is None else min(prev, a["ts"])
    response = []
    for key in ("ack", "on_site", "disposed"):
        at = reached.get(key)
        elapsed = max(0.0, (at - fired).total_seconds()) if at else None
        target = targets[key]
        response.append(
            {
                "key": key,
                "at": at,
                "elapsed_s": elapsed,
                "target_s": target,
                "met": None if elapsed is None or target is None else elapsed <= target,
            }
        )
    now = datetime.now(UTC)
    peaks = _peaks(conn, view, now)
    live = {"sensors": peaks, "now": now}
    sensor_ids = [x["sensor_id"] for x in peaks]
    forecasts = forecasts_for(
        conn, now, asset_ids=[view["asset_id"]] if view.get("asset_id") else [], sensor_ids=sensor_ids
    )
    return {"alert": view, "steps": steps, "response": response, "live": live, "forecasts": forecasts}


@router.get("/spectrum/replay", response_model=SpectrumReplay)
def spectrum_replay(
    conn: ConnDep,
    _: HistoryReader,
    hours: Annotated[int, Query(ge=1, le=168, description="how far back")] = 24,
    step_minutes: Annotated[int, Query(ge=5, le=1440, description="one frame per step")] = 60,
) -> dict[str, Any]:
    """The hazard x district matrix at every step of the last ``hours``, rebuilt from the risk series (a
    step without a point keeps the level of the last point before it)."""
    step = timedelta(minutes=step_minutes)
    start, end = utc_window(None, None, span=timedelta(hours=hours))
    before = reads.district_levels_before(conn, start)
    binned = reads.district_levels_binned(conn, step, start, end)
    keys = sorted({(r.scope, r.hazard) for r in (*before, *binned)})
    hazards = sorted({h for _s, h in keys})
    district_ids = sorted({s.split(":", 1)[1] for s, _h in keys})
    carry = {(r.scope, r.hazard): r.level for r in before}
    cells = {(r.scope, r.hazard, r.b): (r.top, r.last) for r in binned}
    frames = []
    at = start
    while at < end:
        grid = []
        for h in hazards:
            row = []
            for d in district_ids:
                key = (f"district:{d}", h)
                top, last = cells.get((*key, at), (None, None))
                row.append(Level(top if top is not None else carry.get(key, 0)).label)
                if last is not None:
                    carry[key] = last
            grid.append(row)
        frames.append({"at": at, "levels": grid})
        at += step
    return {"hazards": hazards, "districts": district_ids, "start": start, "end": end, "frames": frames}


@router.get("/reports/response-times", response_model=ResponseTimesByPlace)
def response_times_by_place(
    conn: ConnDep, _: HistoryReader, since: datetime | None = None, until: datetime | None = None
) -> dict[str, Any]:
    """Fire -> acknowledged, -> on site, -> disposed (seconds) per hazard and district, with the red targets."""
    start, end = utc_window(since, until, span=timedelta(days=30))
    reached: dict[tuple[int, int, str], datetime] = {}
    rows = reads.fired_alerts(conn, start, end)
    for a in reads.site_actions(conn, [r["id"] for r in rows]):
        key = (a["alert_id"], a["fire_count"], a["step"])
        reached[key] = min(reached.get(key, a["ts"]), a["ts"])
    names = reads.district_names(conn)
    groups: dict[tuple[str, str], dict[str, list[float]]] = {}
    for r in rows:
        g = groups.setdefault(
            (r["hazard"], r["district_id"] or ""), {"ack": [], "on_site": [], "disposed": [], "n": []}
        )
        g["n"].append(1.0)
        times = {
            "ack": r["acknowledged_at"],
            "on_site": reached.get((r["id"], r["fire_count"], "on_site")),
            "disposed": reached.get((r["id"], r["fire_count"], "disposed")),
        }
        for step, at in times.items():
            if at is not None:
                g[step].append(max(0.0, (at - r["fired_at"]).total_seconds()))
    data = [
        {
            "hazard": h,
            "district_id": d or None,
            "district_name": names.get(d),
            "alerts": len(g["n"]),
            "fire_to_ack": _stats(g["ack"]),
            "fire_to_on_site": _stats(g["on_site"]),
            "fire_to_disposed": _stats(g["disposed"]),
            # the hazard's own red targets, from the same rules the alert panel reads (gas: 5 min to ack)
            "red_targets": targets_for(h, Level.RED),
        }
        for (h, d), g in sorted(groups.items())
    ]
    targets = {lv.label: targets_for(None, lv) for lv in sorted(Level, reverse=True)}
    return {"since": start, "until": end, "targets": targets, "data": data, "count": len(data)}
