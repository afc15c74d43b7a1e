"""Dead-letter rows that PostgreSQL always accepts, whatever a sender put in the message.

A dead letter is written in the same transaction as the batch's readings, so a row the database refuses
(a NUL byte, an unpaired surrogate, a sensor id over varchar(64)) would sink the whole batch. Every text
field is therefore escaped (NUL as ``\\u0000``, surrogates backslash-escaped) and bounded here, and the
reason says what was cut.
"""

from __future__ import annotations

import json
from typing import Final

MAX_PAYLOAD_BYTES: Final = 16 * 1024  # UTF-8 bytes of the rendered fragment kept
MAX_ID_CHARS: Final = 64  # dead_letters.sensor_id / utility_id are varchar(64)
MAX_TRANSPORT_CHARS: Final = 8  # dead_letters.transport is varchar(8)
MAX_TOPIC_CHARS: Final = 1024
MAX_REASON_CHARS: Final = 1000


def pg_text(text: str) -> str:
    """``text`` as PostgreSQL text accepts it: NUL written as ``\\u0000``, unpaired surrogates as ``\\udxxx``."""
    if "\x00" in text:
        text = text.replace("\x00", "\\u0000")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def render(fragment: object) -> str:
    """The fragment as text: bytes decoded (bad UTF-8 replaced), other objects as JSON, else their repr."""
    if isinstance(fragment, str):
        return fragment
    if isinstance(fragment, (bytes, bytearray, memoryview)):
        return bytes(fragment).decode("utf-8", "replace")
    try:
        return json.dumps(fragment, default=str, ensure_ascii=False)
    except Exception:  # noqa: BLE001 - hostile structures: too deep, circular, huge ints, odd keys
        pass
    try:
        return repr(fragment)
    except Exception:  # noqa: BLE001 - a repr that raises (or recurses too deep) still leaves a dead letter
        return f"<unrenderable {type(fragment).__name__}>"


def echo(fragment: object, max_chars: int = 2000) -> object:
    """A rejected record as a reply may quote it: the record itself when it is strict JSON (no NaN or
    Infinity, no unpaired surrogate) and short, else its escaped text, cut to ``max_chars``: a reply that
    quotes what a sender got wrong must never fail to render."""
    if not isinstance(fragment, (str, bytes, bytearray, memoryview)):
        try:
            text = json.dumps(fragment, allow_nan=False, ensure_ascii=False)
            text.encode("utf-8")
            if len(text) <= max_chars:
                return fragment
        except (ValueError, TypeError, RecursionError, UnicodeEncodeError):
            pass
    text = pg_text(render(fragment))
    return text if len(text) <= max_chars else text[:max_chars] + "…"


def _bounded_id(value: object, field: str, notes: list[str]) -> str | None:
    """An id escaped and cut to ``MAX_ID_CHARS``; a cut is noted for the reason."""
    if value is None:
        return None
    text = pg_text(value if isinstance(value, str) else render(value))
    if len(text) > MAX_ID_CHARS:
        notes.append(f"{field} truncated from {len(text)} chars")
        text = text[:MAX_ID_CHARS]
    return text


def _bounded_payload(fragment: object, notes: list[str]) -> str:
    """The fragment rendered, escaped and cut to ``MAX_PAYLOAD_BYTES`` of UTF-8 (never mid-character)."""
    text = pg_text(render(fragment))
    if len(text) * 4 <= MAX_PAYLOAD_BYTES:  # cannot exceed the bound: skip encoding
        return text
    data = text.encode("utf-8")
    if len(data) <= MAX_PAYLOAD_BYTES:
        return text
    notes.append(f"payload truncated from {len(data)} bytes")
    return data[:MAX_PAYLOAD_BYTES].decode("utf-8", "ignore")


def dead_letter_row(
    *, transport: str, utility_id: str | None, topic: str | None, sensor_id: str | None, reason: str, fragment: object
) -> dict[str, object]:
    """A row for ``dead_letters`` that the database accepts for any input (see the module docstring)."""
    notes: list[str] = []
    payload = _bounded_payload(fragment, notes)
    sensor = _bounded_id(sensor_id, "sensor_id", notes)
    utility = _bounded_id(utility_id, "utility_id", notes)
    transport_text = pg_text(transport if isinstance(transport, str) else render(transport))
    if len(transport_text) > MAX_TRANSPORT_CHARS:
        notes.append(f"transport truncated from {len(transport_text)} chars")
        transport_text = transport_text[:MAX_TRANSPORT_CHARS]
    topic_text: str | None = None
    if topic is not None:
        topic_text = pg_text(topic if isinstance(topic, str) else render(topic))
        if len(topic_text) > MAX_TOPIC_CHARS:
            notes.append(f"topic truncated from {len(topic_text)} chars")
            topic_text = topic_text[:MAX_TOPIC_CHARS]
    why = pg_text(reason if isinstance(reason, str) else render(reason))
    if len(why) > MAX_REASON_CHARS:
        notes.insert(0, f"reason truncated from {len(why)} chars")
        why = why[:MAX_REASON_CHARS] + "…"
    return {
        "transport": transport_text,
        "utility_id": utility,
        "topic": topic_text,
        "sensor_id": sensor,
        "reason": "; ".join([why, *notes]) if notes else why,
        "payload": payload,
    }
