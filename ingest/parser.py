"""One parser for both transports: SenML JSON packs (RFC 8428) and plain JSON readings.

The parser only turns bytes into candidate records; it knows nothing of sensors or units (that is
``ingest.validate``). Every record that cannot be read becomes a ``Rejection`` carrying the offending
fragment, so one bad record never sinks the rest of its pack. A payload is hostile until parsed: its
cost is bounded (nesting depth, records per pack, digits of a number, length of a name and of a time
text) and ``parse_payload`` raises nothing but ``PayloadError``.

JSON is decoded by orjson (about 3.5 times faster than ``json``) when it reads the payload exactly as the
standard library would; a payload orjson refuses (NaN, a BOM, UTF-16, lone surrogates, deep nesting) or
that holds a run of 19 digits (orjson turns integers beyond 64 bits into floats) is decoded by ``json``,
so every payload is read, and every rejection worded, as before.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, NamedTuple

import orjson

_BASE_KEYS: Final = frozenset({"bn", "bt", "bu", "bv", "bver"})
SENML_KEYS = {"bn", "bt", "bu", "bv", "bver", "n", "u", "v", "t", "vs", "vb", "vd", "s", "ut"}
RELATIVE_TIME_LIMIT: Final = 2**28  # RFC 8428 s4.5.3: resolved times below this are relative to "now"

MAX_DEPTH: Final = 32  # containers nested deeper than this reject the whole payload
MAX_RECORDS: Final = 10_000  # records (top-level array items) per payload
MAX_NAME_CHARS: Final = 64  # a sensor id, as the database stores it (varchar(64))
MAX_DIGITS: Final = 40  # an integer beyond this is reported as "too many digits" rather than out of range
MAX_ABS_VALUE: Final = 1e15  # |value| beyond this is no sensor reading (and ints up to it are exact floats)
MAX_ABS_TIME: Final = 1e11  # |epoch seconds| beyond this (year ~5100) is no timestamp
MAX_TIME_TEXT: Final = 64  # characters of an RFC 3339 time string
MAX_QUOTED: Final = 32  # characters of a hostile string quoted back in a reason


class RawRecord(NamedTuple):
    """A reading as sent: sensor id from the name or topic, epoch seconds, value, unit as sent (or None).

    A named tuple, built on the hot path with ``tuple.__new__``: a tenth of a frozen dataclass's cost."""

    sensor_id: str
    t: float
    value: Any
    unit: Any  # as sent: usually a str or None; anything else is rejected by validation
    fragment: Any  # the record as received, for dead letters


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: str
    fragment: Any
    sensor_id: str | None = None


class PayloadError(ValueError):
    """The whole payload is unreadable (not JSON, wrong shape, too deep or too many records)."""


def quote(text: str, limit: int = MAX_QUOTED) -> str:
    """``text`` repr'd for a reason (control characters and surrogates escaped), cut to ``limit`` characters."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


def int_value_reason(value: int) -> str:
    """Why an integer beyond ``MAX_ABS_VALUE`` is refused (digits estimated: str() of a huge int may raise)."""
    digits = int(value.bit_length() * 0.30103) + 1
    if digits > MAX_DIGITS:
        return f"value has too many digits (about {digits}; limit {MAX_DIGITS})"
    return f"value out of range (|v| > {MAX_ABS_VALUE:.0e})"


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a sensor id (too long, control characters, unpaired surrogates), else None."""
    if len(name) > MAX_NAME_CHARS:
        return f"sensor name {quote(name)} is longer than {MAX_NAME_CHARS} characters ({len(name)})"
    if not name.isprintable():
        return f"sensor name {quote(name)} has control, unprintable or surrogate characters"
    return None


def parse_time(value: Any, *, now: float, relative: bool = True) -> float:
    """Epoch seconds from a number or an RFC 3339 string. With ``relative`` (SenML, RFC 8428 s4.5.3) a number
    below 2**28 is seconds relative to ``now``; without it (plain JSON) such a number is refused: it is no
    absolute time, and ``t=0`` is most often a device whose clock was never set."""
    if isinstance(value, bool):
        raise ValueError("time must be a number or an RFC 3339 string")
    if isinstance(value, (int, float)):
        if not -MAX_ABS_TIME < value < MAX_ABS_TIME:
            raise ValueError("time is not finite or out of range")
        t = float(value)
        if abs(t) < RELATIVE_TIME_LIMIT:
            if not relative:
                raise ValueError(
                    f"time {t:g} is not epoch seconds (plain JSON needs an absolute time, epoch seconds after "
                    "1978-07-04 or RFC 3339; t=0 is a device whose clock was never set; relative times are SenML's)"
                )
            return now + t
        return t
    if isinstance(value, str):
        if len(value) > MAX_TIME_TEXT:
            raise ValueError(f"time text is longer than {MAX_TIME_TEXT} characters")
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValueError(f"time {value!r} is not RFC 3339") from exc
        if dt.tzinfo is None:
            raise ValueError(f"time {value!r} has no UTC offset")
        try:
            t = dt.timestamp()
        except (OverflowError, ValueError) as exc:
            raise ValueError(f"time {value!r} is out of range") from exc
        if not -MAX_ABS_TIME < t < MAX_ABS_TIME:
            raise ValueError(f"time {value!r} is out of range")
        return t
    raise ValueError("time must be a number or an RFC 3339 string")


def _is_senml(items: list[Any]) -> bool:
    return any(isinstance(i, dict) and ("n" in i or "bn" in i) for i in items)


_DIGITS_AS_ZERO: Final = bytes.maketrans(b"123456789", b"000000000")
_LONG_RUN: Final = b"0" * 19  # 19 digits in a row: perhaps an integer beyond orjson's 64 bits
_LONG_DIGITS_TEXT: Final = re.compile(r"[0-9]{19}")


def _long_digits(payload: bytes | str) -> bool:
    """Whether a run of 19 digits occurs (a translate and a substring search: ten times a regex's speed)."""
    if isinstance(payload, str):
        return _LONG_DIGITS_TEXT.search(payload) is not None
    return _LONG_RUN in payload.translate(_DIGITS_AS_ZERO)


def _loads(payload: bytes | str) -> Any:
    """The payload decoded as ``json.loads`` would (fast when orjson agrees), failures as ``PayloadError``."""
    if not _long_digits(payload):
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError:
            pass  # the standard library decides, and words the reason
    return _json_loads(payload)


def _json_loads(payload: bytes | str) -> Any:
    """``json.loads`` with its failures as ``PayloadError`` (deep nesting, huge integers, bad encoding)."""
    try:
        return json.loads(payload)
    except RecursionError:
        raise PayloadError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an integer over 4300 digits
        if "integer string conversion" in str(exc):
            raise PayloadError("malformed JSON: a number has more than 4300 digits") from None
        raise PayloadError(f"malformed JSON: {exc}") from exc


def _too_deep(doc: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether containers nest deeper than ``limit`` (the top level is 1); iterative, so never recursion."""
    if type(doc) is not dict and type(doc) is not list:
        return False
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        for child in node.values() if type(node) is dict else node:
            if type(child) is dict or type(child) is list:
                stack.append((child, depth + 1))
    return False


def _openers(payload: bytes | str) -> int:
    """An upper bound on the containers in the payload: every '[' or '{' byte, in strings or not."""
    if isinstance(payload, str):
        return payload.count("[") + payload.count("{")
    return payload.count(b"[") + payload.count(b"{")


def _printable_ascii(payload: bytes | str) -> bool:
    """Whether every string in the (valid JSON) payload is printable ASCII, so names need no per-char check.

    Strict JSON refuses raw control characters in strings, so with no byte above 0x7e (nor DEL) and no
    backslash (no escapes such as ``\\u0000`` or ``\\ud800``) every parsed string is printable. Bytes
    with a NUL may be UTF-16/32 (whose ASCII-looking bytes can spell any character): those are checked.
    """
    if isinstance(payload, str):
        return payload.isascii() and "\\" not in payload and "\x7f" not in payload
    return payload.isascii() and b"\\" not in payload and b"\x7f" not in payload and b"\x00" not in payload


def parse_payload(
    payload: bytes | str,
    *,
    topic_sensor: str | None = None,
    now: float | None = None,
) -> tuple[list[RawRecord], list[Rejection]]:
    """Parse a payload into records and per-record rejections; raise ``PayloadError`` if unreadable."""
    now = time.time() if now is None else now
    doc = _loads(payload)
    items = doc if type(doc) is list else [doc]
    if not items:
        raise PayloadError("empty payload")
    if len(items) > MAX_RECORDS:
        raise PayloadError(f"too many records: {len(items)} > {MAX_RECORDS} per payload")
    parse = _parse_senml if _is_senml(items) else _parse_plain
    records, rejections, dicts = parse(
        items, topic_sensor=topic_sensor, now=now, check_chars=not _printable_ascii(payload)
    )
    # Depth: a flat pack holds exactly the top list and one dict per record, so when the payload has no
    # more '['/'{' than that no container can sit deeper; only otherwise is the parsed tree walked.
    if _openers(payload) > (type(doc) is list) + dicts and _too_deep(doc):
        raise PayloadError(f"JSON nested deeper than {MAX_DEPTH} levels")
    return records, rejections


def _base_fields(
    item: dict[str, Any],
    bn: str,
    bt: float,
    bu: Any,
    bv: float,
    errors: dict[str, str],
) -> tuple[str, float, Any, float]:
    """Apply a record's base fields (RFC 8428 s4.1); a bad one is noted in ``errors`` until it is set again."""
    if "bn" in item:
        b = item["bn"]
        if type(b) is str:
            bn = b
            errors.pop("bn", None)
        else:
            errors["bn"] = "SenML base name 'bn' is not a string"
    if "bt" in item:
        b = item["bt"]
        if (type(b) is float or type(b) is int) and -MAX_ABS_TIME < b < MAX_ABS_TIME:
            bt = float(b)
            errors.pop("bt", None)
        else:
            errors["bt"] = "bad time: SenML base time 'bt' is not a finite number in range"
    if "bu" in item:
        bu = item["bu"]  # checked where it is used (validation)
    if "bv" in item:
        b = item["bv"]
        if (type(b) is float or type(b) is int) and -MAX_ABS_VALUE <= b <= MAX_ABS_VALUE:
            bv = float(b)
            errors.pop("bv", None)
        else:
            errors["bv"] = "SenML base value 'bv' is not a finite number in range"
    return bn, bt, bu, bv


def _parse_senml(
    items: list[Any],
    *,
    topic_sensor: str | None,
    now: float,
    check_chars: bool = True,
) -> tuple[list[RawRecord], list[Rejection], int]:
    """Resolve a SenML pack (records, rejections, count of object items); a plain record takes a short path.

    Names are checked character by character only if ``check_chars`` (the payload is not plain ASCII).
    The loop stays in one piece on purpose: a helper call per record would cost ~5 % of ingest."""
    records: list[RawRecord] = []
    rejections: list[Rejection] = []
    append, reject, new = records.append, rejections.append, tuple.__new__
    bn, bt, bu, bv = "", 0.0, None, 0.0
    base_errors: dict[str, str] = {}  # base fields in force that are unusable: later records cannot resolve
    dicts = 0
    max_name, max_v, max_t, rel = MAX_NAME_CHARS, MAX_ABS_VALUE, MAX_ABS_TIME, RELATIVE_TIME_LIMIT
    for item in items:
        if type(item) is not dict:
            reject(Rejection("SenML record is not an object", item))
            continue
        dicts += 1
        if "bn" in item or "bt" in item or "bu" in item or "bv" in item:
            bn, bt, bu, bv = _base_fields(item, bn, bt, bu, bv, base_errors)
        if base_errors:
            reject(Rejection("; ".join(base_errors.values()), item))
            continue
        n = item.get("n", "")
        if type(n) is not str:
            reject(Rejection("SenML name 'n' is not a string", item))
            continue
        name = bn + n
        if name[-1:] in (":", "/"):
            name = name.rstrip(":/")
        if not name:
            name = topic_sensor or ""
            problem = name_problem(name) if name else "SenML record has no name and the topic names no sensor"
            if problem:
                reject(Rejection(problem, item))
                continue
        elif len(name) > max_name or (check_chars and not name.isprintable()):
            reject(Rejection(name_problem(name) or "bad sensor name", item))
            continue
        if "v" not in item:
            if not set(item) <= _BASE_KEYS:  # a base-only record carries no reading
                reject(Rejection("SenML record has no numeric value 'v'", item, name))
            continue
        value = item["v"]
        vt = type(value)
        if vt is float:
            value = bv + value
        elif vt is int:
            if not -max_v <= value <= max_v:
                reject(Rejection(int_value_reason(value), item, name))
                continue
            value = bv + value
        t = item.get("t", 0)
        tt = type(t)
        if tt is float or (tt is int and -max_t < t < max_t):
            t = bt + t
            if -rel < t < rel:
                t += now
            elif not -max_t < t < max_t:
                reject(Rejection("bad time: time is not finite or out of range", item, name))
                continue
        else:
            try:
                t = parse_time(t, now=now)
            except (ValueError, TypeError) as exc:
                reject(Rejection(f"bad time: {exc}", item, name))
                continue
        append(new(RawRecord, (name, t, value, item.get("u", bu), item)))
    return records, rejections, dicts


def _parse_plain(
    items: list[Any],
    *,
    topic_sensor: str | None,
    now: float,
    check_chars: bool = True,
) -> tuple[list[RawRecord], list[Rejection], int]:
    """Plain JSON readings: ``{"t": ..., "v": ..., "u": ...}`` on a sensor topic or with ``sensor_id``. The time
    is what the device said: absolute (epoch seconds or RFC 3339) and required; no reading is restamped.

    Sensor ids are always checked in full (``check_chars`` is accepted for a signature like the SenML one)."""
    records: list[RawRecord] = []
    rejections: list[Rejection] = []
    dicts = 0
    for item in items:
        if type(item) is not dict:
            rejections.append(Rejection("reading is not an object with 't' and 'v'", item))
            continue
        dicts += 1
        sensor = item.get("sensor_id") or item.get("sensor") or topic_sensor
        if not sensor:
            rejections.append(Rejection("reading names no sensor ('sensor_id') and the topic names none", item))
            continue
        if type(sensor) is not str:
            rejections.append(Rejection("reading's 'sensor_id' is not a string", item))
            continue
        problem = name_problem(sensor)
        if problem:
            rejections.append(Rejection(problem, item))
            continue
        if "v" not in item:
            rejections.append(Rejection("reading has no value 'v'", item, sensor))
            continue
        if "t" not in item:
            rejections.append(Rejection("bad time: reading has no time 't' (epoch seconds or RFC 3339)", item, sensor))
            continue
        try:
            t = parse_time(item["t"], now=now, relative=False)
        except (ValueError, TypeError) as exc:
            rejections.append(Rejection(f"bad time: {exc}", item, sensor))
            continue
        records.append(tuple.__new__(RawRecord, (sensor, t, item["v"], item.get("u"), item)))
    return records, rejections, dicts
