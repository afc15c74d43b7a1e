"""Score stored alerts of a simulator run against its ground truth.

An alert catches an incident when it concerns the incident's asset (or one of its sensors, or its
district for district-scope alerts), its hazard matches, and it first fired between the incident's start
(minus ``slack_s``) and end (plus ``slack_s``). Alerts that catch nothing are false alerts.
``max_notifications_per_incident`` counts firing notifications (an alert newly fired or re-fired) per channel
for the worst incident; ``max_messages_per_incident`` counts every message (updates, repeats, resolved,
escalations too). Messages cancelled while waiting (group_wait) never went out and are not counted.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from alerts.evaluate_condition import conditions
from alerts.evaluate_truth import score_truth
from alerts.forecast_score import score_forecasts
from alerts.store import reads
from resilience.core.settings import get_settings
from resilience.store.cursors import backlogs
from resilience.store.db import Connection, Engine


@dataclass(frozen=True)
class Incident:
    incident_id: str
    type: str
    hazard: str
    asset_id: str | None
    sensor_ids: tuple[str, ...]
    district_id: str | None
    start: datetime
    end: datetime
    settle_s: float = 0.0  # how long the effects take to relax after ``end`` (the simulator's physics)


def wait_drained(engine: Engine, timeout_s: float, every_s: float = 5.0) -> dict[str, int]:
    """Wait until every consumer (detector, risk, alerts) has consumed its whole log, seen twice ``every_s``
    apart (a stage still handing on shows between the two), or ``timeout_s`` passed; the last backlogs."""
    deadline = time.monotonic() + timeout_s
    clean = 0
    while True:
        with engine.connect() as conn:
            left = backlogs(conn)
        clean = clean + 1 if not any(left.values()) else 0
        if clean >= 2 or time.monotonic() >= deadline:
            return left
        time.sleep(every_s)


def load_truth(path: str | Path) -> list[Incident]:
    data = json.loads(Path(path).read_text())
    if isinstance(data, dict):
        data = data.get("incidents", [])
    return [
        Incident(
            str(d["incident_id"]),
            d.get("type", ""),
            d.get("hazard", ""),
            d.get("asset_id"),
            tuple(d.get("sensor_ids") or ()),
            d.get("district_id"),
            datetime.fromisoformat(d["start"]),
            datetime.fromisoformat(d["end"]),
            float(d.get("settle_s") or 0.0),
        )
        for d in data
    ]


def _matches(inc: Incident, a: dict[str, Any], fired: datetime, slack: timedelta) -> bool:
    if not inc.start - slack <= fired <= inc.end + slack:
        return False
    if inc.hazard and a["hazard"] != inc.hazard:
        return False
    # Sensors that ever fed the alert: current sources empty as the condition clears, so evidence counts too.
    sensors = {s for src in (a["sources"] or {}).values() if (s := src.get("sensor_id"))} | a["ever_sensors"]
    if a["scope"].startswith("sensor:"):
        sensors.add(a["scope"].split(":", 1)[1])
    if sensors & set(inc.sensor_ids):
        return True
    if inc.asset_id and a["asset_id"] == inc.asset_id:
        return True
    return bool(a["scope"].startswith("district:") and inc.district_id and a["district_id"] == inc.district_id)


def _worked(a: dict[str, Any]) -> bool:
    """Whether the console lists this alert as a row of its own (not a member of an incident, not a district
    alert held back because only one asset is affected)."""
    if a.get("parent_fingerprint"):
        return False
    return not (str(a["scope"]).startswith("district:") and a.get("inhibited"))


def evaluate(
    conn: Connection,
    incidents: list[Incident],
    *,
    slack_s: float = 600.0,
    days: float | None = None,
    end: datetime | None = None,
    staleness: list[float] | None = None,
) -> dict[str, Any]:
    """Score the stored alerts; ``end``: when the simulated data ended. Alerts fired after it are about the
    feed stopping (every sensor falls silent once the simulator exits), not about the simulated city.
    ``staleness``: the evaluation operator's samples of how old the values shown by open alerts were."""
    slack = timedelta(seconds=slack_s)
    alert_rows = {r["id"]: {**r, "ever_sensors": set()} for r in reads.scored_alerts(conn)}
    for r in alert_rows.values():
        if sid := (r["evidence"] or {}).get("sensor_id"):
            r["ever_sensors"].add(sid)
    for aid, data in reads.transition_data(conn):
        sid = ((data or {}).get("evidence") or {}).get("sensor_id")
        if sid and aid in alert_rows:
            alert_rows[aid]["ever_sensors"].add(sid)
    firings = [(aid, ts) for aid, ts in reads.firings(conn) if aid in alert_rows and (end is None or ts <= end)]
    # Messages that went (or go) out: a message cancelled in its group_wait never reached anyone.
    # (Messages about the feed stopping after the simulated data ended are not scored.)
    sent_rows = reads.sent_messages(conn, created_until=end)
    all_sends = Counter((r["alert_id"], r["channel"]) for r in sent_rows if r["kind"] == "firing")
    # A re-opening that undid the operator's resolution of a live hazard notifies again, as it must (the unit
    # was told "resolved"); it is the officer's doing, not a second incident, so it is counted apart.
    reopens = reads.reopened_after_override(conn)
    sends = Counter(
        {(aid, ch): max(min(n, 1), n - reopens.get(aid, 0)) for (aid, ch), n in all_sends.items() if aid in alert_rows}
    )
    # The same per recipient: the duty supervisor's copy of a red alert is not a second message to the unit.
    sends_per_receiver = Counter(
        (r["alert_id"], f"{r['channel']}/{r['receiver']}") for r in sent_rows if r["kind"] == "firing"
    )
    messages = Counter((r["alert_id"], r["channel"]) for r in sent_rows)
    tta: list[float] = []
    matched: set[tuple[int, datetime]] = set()
    per_incident_max: list[int] = []
    per_incident_with_reopens: list[int] = []
    per_incident_messages: list[int] = []
    per_incident_receiver: list[int] = []

    def worst_channel(counts: Counter[tuple[int, str]], ids: set[int]) -> int:
        per_channel: Counter[str] = Counter()
        for (aid, channel), n in counts.items():
            if aid in ids:
                per_channel[channel] += n
        return max(per_channel.values(), default=0)

    rows: list[dict[str, Any]] = []
    hits_per_incident: dict[str, set[int]] = {}
    to_work: list[int] = []  # alert rows an operator must work (and close) per caught incident
    for inc in incidents:
        hits = [(aid, ts) for aid, ts in firings if _matches(inc, alert_rows[aid], ts, slack)]
        matched.update(hits)
        first = max(0.0, (min(ts for _, ts in hits) - inc.start).total_seconds()) if hits else None
        if first is not None:
            tta.append(first)
        ids = {aid for aid, _ in hits}
        hits_per_incident[inc.incident_id] = ids
        if ids:
            to_work.append(sum(1 for aid in ids if _worked(alert_rows[aid])))
        per_incident_max.append(worst_channel(sends, ids))
        per_incident_with_reopens.append(worst_channel(all_sends, ids))
        per_incident_messages.append(worst_channel(messages, ids))
        per_incident_receiver.append(worst_channel(sends_per_receiver, ids))
        rows.append(
            {
                "incident": inc.incident_id,
                "type": inc.type,
                "asset": inc.asset_id,
                "tta_s": first,
                "alerts": sorted(ids),
                "firings": len(hits),
                "notifications": per_incident_max[-1],
            }
        )
    false = [f for f in firings if f not in matched]
    if days is None:
        times = [i.start for i in incidents] + [i.end for i in incidents] + [ts for _, ts in firings]
        days = max((max(times) - min(times)).total_seconds() / 86400, 1 / 24) if times else 1.0
    held = conditions(conn, incidents, silence_k=get_settings().silence_k)
    truth = score_truth(conn, held, hits_per_incident, end=end, staleness=staleness or [])
    return {
        **truth,
        "incidents": len(incidents),
        "caught": len(tta),
        "median_tta_s": round(statistics.median(tta), 1) if tta else None,
        "worst_tta_s": round(max(tta), 1) if tta else None,
        "false_per_day": round(len(false) / days, 3),
        "false_alerts": len(false),
        "days": round(days, 3),
        # Firing notifications (new or re-fired alerts) per channel: the "one alert per incident" figure.
        "max_notifications_per_incident": max(per_incident_max, default=0),
        # ... and with the re-openings of alerts the operator resolved on a live hazard
        "max_notifications_per_incident_with_reopens": max(per_incident_with_reopens, default=0),
        "reopens_after_override": sum(reopens.get(aid, 0) for aid in alert_rows),
        # Every message per channel (firing, level updates, repeats, resolved, escalations), for context.
        "max_messages_per_incident": max(per_incident_messages, default=0),
        "max_notifications_per_incident_receiver": max(per_incident_receiver, default=0),
        # Rows an operator must work per caught incident (goal 1): members grouped under their incident's
        # alert and district alerts held for a single asset are not rows of their own (the console's rule).
        "alerts_per_incident": round(statistics.fmean(to_work), 2) if to_work else None,
        "alerts_per_incident_max": max(to_work, default=0),
        **score_forecasts(conn, incidents, slack_s=slack_s, end=end),  # warning before the limit
        "per_incident": rows,
        "false": [
            {
                "alert": aid,
                "ts": ts.isoformat(),
                "rule": alert_rows[aid]["rule"],
                "hazard": alert_rows[aid]["hazard"],
                "scope": alert_rows[aid]["scope"],
            }
            for aid, ts in false
        ],
    }


SUMMARY_KEYS = (
    "incidents",
    "caught",
    "median_tta_s",
    "worst_tta_s",
    "false_per_day",
    "max_notifications_per_incident",
    "alerts_per_incident",
    # the alert follows the hazard (alerts.evaluate_truth): goals 0, >= 0.99, <= 10 s
    "resolved_while_active",
    "state_agreement",
    "value_staleness_p99_s",
    # warning before the limit (alerts.forecast_score): goals >= 600 s, <= 0.2
    "lead_time_median_s",
    "forecast_false_share",
)


def summary_line(r: dict[str, Any]) -> str:
    return " ".join(f"{k}={r[k]}" for k in SUMMARY_KEYS)
