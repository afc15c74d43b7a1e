"""One parser for both transports: SenML JSON packs (RFC 8428) and plain JSON readings.

The parser only turns bytes into candidate records; it knows nothing of sensors or units (that is
``ingest.validate``). Every record that cannot be read becomes a ``Rejection`` carrying the offending
fragment, so one bad record never sinks the rest of its pack.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

SENML_KEYS = {"bn", "bt", "bu", "bv", "bver", "n", "u", "v", "t", "vs", "vb", "vd", "s", "ut"}
_INF = float("inf")
RELATIVE_TIME_LIMIT = 2**28  # RFC 8428 s4.5.3: resolved times below this are relative to "now"


@dataclass(frozen=True, slots=True)
class RawRecord:
    """A reading as sent: sensor id from the name or topic, epoch seconds, value, unit as sent (or None)."""

    sensor_id: str
    t: float
    value: Any
    unit: str | None
    fragment: Any  # the record as received, for dead letters


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: str
    fragment: Any
    sensor_id: str | None = None


class PayloadError(ValueError):
    """The whole payload is unreadable (not JSON, wrong shape)."""


def parse_time(value: Any, *, now: float) -> float:
    """Epoch seconds from a number (SenML relative rule applies to small numbers) or an RFC 3339 string."""
    if isinstance(value, bool):
        raise ValueError("time must be a number or an RFC 3339 string")
    if isinstance(value, (int, float)):
        t = float(value)
        if not math.isfinite(t):
            raise ValueError("time is not finite")
        return now + t if abs(t) < RELATIVE_TIME_LIMIT else t
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValueError(f"time {value!r} is not RFC 3339") from exc
        if dt.tzinfo is None:
            raise ValueError(f"time {value!r} has no UTC offset")
        return dt.timestamp()
    raise ValueError("time must be a number or an RFC 3339 string")


def _is_senml(items: list[Any]) -> bool:
    return any(isinstance(i, dict) and ("n" in i or "bn" in i) for i in items)


def parse_payload(payload: bytes | str, *, topic_sensor: str | None = None, now: float | None = None,
                  ) -> tuple[list[RawRecord], list[Rejection]]:
    """Parse a payload into records and per-record rejections; raise ``PayloadError`` if unreadable."""
    now = time.time() if now is None else now
    try:
        doc = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"malformed JSON: {exc}") from exc
    items = doc if isinstance(doc, list) else [doc]
    if not items:
        raise PayloadError("empty payload")
    if _is_senml(items):
        return _parse_senml(items, topic_sensor=topic_sensor, now=now)
    return _parse_plain(items, topic_sensor=topic_sensor, now=now)


def _parse_senml(items: list[Any], *, topic_sensor: str | None, now: float) -> tuple[list[RawRecord], list[Rejection]]:
    """Resolve a SenML pack; the common record (``n``, ``v``, numeric ``t``) takes a short path."""
    records: list[RawRecord] = []
    rejections: list[Rejection] = []
    append = records.append
    bn, bt, bu, bv = "", 0.0, None, 0.0
    for item in items:
        if type(item) is not dict:
            rejections.append(Rejection("SenML record is not an object", item))
            continue
        if "bn" in item or "bt" in item or "bu" in item or "bv" in item:
            # Base fields apply to this record and every later one (RFC 8428 s4.1).
            if "bn" in item:
                bn = str(item["bn"])
            if "bt" in item:
                b = item["bt"]
                bt = b if isinstance(b, (int, float)) and not isinstance(b, bool) else 0.0
            if "bu" in item:
                bu = item["bu"]
            if "bv" in item and isinstance(item["bv"], (int, float)):
                bv = float(item["bv"])
        n = item.get("n", "")
        name = (bn + n if type(n) is str else bn + str(n))
        if name[-1:] in (":", "/"):
            name = name.rstrip(":/")
        if not name:
            name = topic_sensor or ""
            if not name:
                rejections.append(Rejection("SenML record has no name and the topic names no sensor", item))
                continue
        if "v" not in item:
            if set(item) <= {"bn", "bt", "bu", "bv", "bver"}:
                continue  # a base-only record carries no reading
            rejections.append(Rejection("SenML record has no numeric value 'v'", item, name))
            continue
        value = item["v"]
        vt = type(value)
        if vt is float or vt is int:
            value = bv + value
        t = item.get("t", 0)
        tt = type(t)
        if tt is float or tt is int:
            t = bt + t
            if t != t or t in (_INF, -_INF):
                rejections.append(Rejection("bad time: time is not finite", item, name))
                continue
            if -RELATIVE_TIME_LIMIT < t < RELATIVE_TIME_LIMIT:
                t += now
        else:
            try:
                t = parse_time(t, now=now)
            except (ValueError, TypeError) as exc:
                rejections.append(Rejection(f"bad time: {exc}", item, name))
                continue
        append(RawRecord(name, float(t), value, item.get("u", bu), item))
    return records, rejections


def _parse_plain(items: list[Any], *, topic_sensor: str | None, now: float) -> tuple[list[RawRecord], list[Rejection]]:
    records: list[RawRecord] = []
    rejections: list[Rejection] = []
    for item in items:
        if not isinstance(item, dict):
            rejections.append(Rejection("reading is not an object with 't' and 'v'", item))
            continue
        sensor = item.get("sensor_id") or item.get("sensor") or topic_sensor
        if not sensor:
            rejections.append(Rejection("reading names no sensor ('sensor_id') and the topic names none", item))
            continue
        if "v" not in item:
            rejections.append(Rejection("reading has no value 'v'", item, str(sensor)))
            continue
        try:
            t = parse_time(item["t"], now=now) if "t" in item else now
        except (ValueError, TypeError) as exc:
            rejections.append(Rejection(f"bad time: {exc}", item, str(sensor)))
            continue
        records.append(RawRecord(str(sensor), t, item["v"], item.get("u"), item))
    return records, rejections
