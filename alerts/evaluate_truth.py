"""Does the alert follow the hazard? Scores of the alert transition history against the ground truth.

``resolved_while_active``: alerts resolved while their incident was still active in the ground truth and
never re-opened afterwards (goal 0: never silence while the hazard is there).
``state_agreement``: per incident, sampled every minute from its start to ``after_s`` past the end of its
condition, whether the state the console shows (active / cleared 已恢复 / none) agrees with the truth of its
condition (``alerts.evaluate_condition``: a fault's onset by its definition, the end when the readings are back
inside their limits); a sample also agrees when it matches the truth one sample earlier (detection and
clearing take up to a minute by design).
``value_staleness_p99_s``: from the evaluation operator's samples (``alerts.evaluate_operator``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal, Protocol

from alerts.store import reads
from resilience.store.db import Connection

Shown = Literal["active", "cleared", "none"]
SAMPLE = timedelta(minutes=1)
REFIRES = ("fired", "reopened")


class IncidentSpan(Protocol):
    @property
    def incident_id(self) -> str: ...
    @property
    def start(self) -> datetime: ...
    @property
    def end(self) -> datetime: ...


class ConditionSpan(IncidentSpan, Protocol):
    @property
    def onset(self) -> datetime: ...
    @property
    def settled(self) -> datetime: ...


def shown_state(history: Sequence[tuple[datetime, str]], t: datetime) -> Shown:
    """The state one alert showed at ``t``, replaying its transitions (oldest first) up to ``t``."""
    state: Shown = "none"
    for ts, kind in history:
        if ts > t:
            break
        if kind in (*REFIRES, "recurred"):
            state = "active"
        elif kind == "cleared" and state == "active":
            state = "cleared"
        elif kind in ("resolved", "reviewed"):
            state = "none"
    return state


def _combined(histories: Iterable[Sequence[tuple[datetime, str]]], t: datetime) -> Shown:
    states = {shown_state(h, t) for h in histories}
    return "active" if "active" in states else "cleared" if "cleared" in states else "none"


def _truth_ok(inc: ConditionSpan, t: datetime, shown: Shown) -> bool:
    if t < inc.start:
        return shown == "none"
    if t < inc.onset:  # a fault not yet meeting its definition: not known yet, nor wrong if known
        return shown in ("none", "active")
    if t < inc.end:
        return shown == "active"
    if t < inc.settled:  # the cause is gone, the readings not yet back inside their limits
        return shown in ("active", "cleared")
    return shown in ("cleared", "none")  # over: 已恢复 while the hold runs, or resolved


def state_agreement(
    incidents: Sequence[ConditionSpan],
    hits: Mapping[str, set[int]],
    history: Mapping[int, Sequence[tuple[datetime, str]]],
    *,
    after_s: float = 600.0,
    end: datetime | None = None,
) -> tuple[float | None, int]:
    """(fraction of incident-minutes whose shown state agrees with the truth, number of samples)."""
    agree = total = 0
    for inc in incidents:
        mine = [history.get(aid, ()) for aid in hits.get(inc.incident_id, set())]
        stop = inc.settled + timedelta(seconds=after_s)
        if end is not None:
            stop = min(stop, end)
        t = inc.start
        while t < stop:
            shown = _combined(mine, t)
            total += 1
            agree += _truth_ok(inc, t, shown) or _truth_ok(inc, t - SAMPLE, shown)
            t += SAMPLE
    return (round(agree / total, 4) if total else None), total


def resolved_while_active(
    incidents: Sequence[IncidentSpan],
    hits: Mapping[str, set[int]],
    history: Mapping[int, Sequence[tuple[datetime, str]]],
) -> list[tuple[str, int, datetime]]:
    """(incident, alert, resolved at) of every alert resolved during its incident and never fired again."""
    out = []
    for inc in incidents:
        for aid in sorted(hits.get(inc.incident_id, set())):
            steps = history.get(aid, ())
            for i, (ts, kind) in enumerate(steps):
                if kind != "resolved" or not inc.start <= ts < inc.end:
                    continue
                if not any(k in REFIRES for _, k in steps[i + 1 :]):
                    out.append((inc.incident_id, aid, ts))
                    break
    return out


def load_staleness(path: str | Path | None) -> list[float]:
    """The operator's staleness samples (one JSON object per line, ``staleness_s`` a list of seconds)."""
    if path is None or not Path(path).exists():
        return []
    out: list[float] = []
    for line in Path(path).read_text().splitlines():
        if line.strip():
            out.extend(float(x) for x in json.loads(line).get("staleness_s", []))
    return out


def p99(values: Sequence[float]) -> float | None:
    """The 99th percentile (nearest rank): the value 99 % of the samples do not exceed."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)], 1)


def score_truth(
    conn: Connection,
    incidents: Sequence[ConditionSpan],
    hits: Mapping[str, set[int]],
    *,
    end: datetime | None = None,
    staleness: Sequence[float] = (),
) -> dict[str, object]:
    """The three keys (and their detail) for ``alerts.evaluate``."""
    ids = set().union(*hits.values()) if hits else set()
    history = reads.state_history(conn, ids)
    agreement, samples = state_agreement(incidents, hits, history, end=end)
    silenced = resolved_while_active(incidents, hits, history)
    return {
        "resolved_while_active": len(silenced),
        "resolved_while_active_list": [
            {"incident": i, "alert": a, "resolved_at": ts.isoformat()} for i, a, ts in silenced
        ],
        "state_agreement": agreement,
        "state_samples": samples,
        "value_staleness_p99_s": p99(staleness),
        "value_staleness_samples": len(staleness),
    }
