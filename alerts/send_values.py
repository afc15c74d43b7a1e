"""The value at send time: what each of an alert's sensors reads when the message goes out, with its time.

A notification is written to the outbox when the alert changes, but it may go out later (group wait,
retries after a receiver outage) and an onset value is minutes or hours old by then. So the dispatcher, CAP
and e-mail read the newest stored reading of every sensor of the alert just before sending, and say when
that reading was taken; the onset value stays in the evidence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from resilience.core.display import unit_label
from resilience.store.console_reads import current_values
from resilience.store.db import Connection

LOOKBACK = timedelta(hours=6)  # an older newest reading is "no recent reading" (as the console says)


def read_current(conn: Connection, sensor_ids: Iterable[str], now: datetime) -> dict[str, dict[str, Any]]:
    """Per sensor: ``{"sensor_id", "value", "ts", "unit", "unit_label", "age_s"}`` (value/ts None: no recent
    reading), read at ``now`` from the newest stored readings."""
    ids = sorted(set(sensor_ids))
    rows = current_values(conn, ids, now - LOOKBACK)
    out = {}
    for sid in ids:
        row = rows.get(sid) or {}
        ts = row.get("ts")
        out[sid] = {
            "sensor_id": sid,
            "kind": row.get("kind"),
            "value": row.get("value") if ts is not None else None,
            "ts": ts.isoformat() if ts is not None else None,
            "unit": row.get("unit"),
            "unit_label": unit_label(row["unit"]) if row.get("unit") else None,
            "age_s": round(max(0.0, (now - ts).total_seconds()), 1) if ts is not None else None,
        }
    return out


def with_current(payload: dict[str, Any], current: dict[str, dict[str, Any]], now: datetime) -> dict[str, Any]:
    """The notification payload with its alert's sensors' values at send time (``alert.current``)."""
    alert = payload.get("alert")
    if not isinstance(alert, dict):
        return payload
    sensors = [current[s] for s in alert.get("sensor_ids") or [] if s in current]
    return {**payload, "alert": {**alert, "current": sensors, "current_read_at": now.isoformat()}}


def describe(current: Iterable[Mapping[str, Any]]) -> list[str]:
    """One line per sensor for a text message: ``s1: 40.5 %LEL @ 2024-07-20T08:20:00+00:00``."""
    out = []
    for c in current:
        if c.get("value") is None:
            out.append(f"{c['sensor_id']}: 无近期读数 no recent reading")
        else:
            out.append(f"{c['sensor_id']}: {c['value']:g} {c.get('unit_label') or ''} @ {c['ts']}".replace("  ", " "))
    return out
