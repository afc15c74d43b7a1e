"""Dead-letter rows are accepted by a real PostgreSQL whatever the sender put in the message."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, insert

from ingest.deadletter import MAX_ID_CHARS, MAX_PAYLOAD_BYTES, MAX_REASON_CHARS, MAX_TOPIC_CHARS, dead_letter_row
from resilience.store.schema import dead_letters
from tests.examples import max_examples

COLUMNS = ("transport", "utility_id", "topic", "sensor_id", "reason", "payload")


def _row(fragment: object = "{}", **kw: Any) -> dict[str, object]:
    args: dict[str, Any] = {
        "transport": "mqtt",
        "utility_id": "waterco",
        "topic": "t/1",
        "sensor_id": "P-1",
        "reason": "bad",
        "fragment": fragment,
    }
    return dead_letter_row(**{**args, **kw})


def _store(engine: Engine, rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """Insert ``rows`` and read them back, inside a transaction that is rolled back."""
    with engine.connect() as conn:
        tx = conn.begin()
        try:
            back = conn.execute(insert(dead_letters).returning(*[dead_letters.c[c] for c in COLUMNS]), rows).all()
        finally:
            tx.rollback()
    return [dict(r._mapping) for r in back]


class Hostile:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")

    def __str__(self) -> str:
        raise RuntimeError("no str either")


def _deep(n: int) -> list[Any]:
    out: list[Any] = []
    for _ in range(n):
        out = [out]
    return out


def _circular() -> list[Any]:
    a: list[Any] = []
    a.append(a)
    return a


def test_nul_and_surrogates_are_escaped() -> None:
    row = _row("a\x00b\ud800c", sensor_id="S\x00", utility_id="u\udfff", topic="t/\x00", reason="r\x00\ud800")
    assert row["payload"] == "a\\u0000b\\ud800c" and row["sensor_id"] == "S\\u0000"
    assert row["utility_id"] == "u\\udfff" and row["topic"] == "t/\\u0000" and row["reason"] == "r\\u0000\\ud800"


def test_long_ids_are_cut_and_the_reason_says_so() -> None:
    row = _row(sensor_id="S" * 100, utility_id="U" * 65)
    assert row["sensor_id"] == "S" * MAX_ID_CHARS and row["utility_id"] == "U" * MAX_ID_CHARS
    assert row["reason"] == "bad; sensor_id truncated from 100 chars; utility_id truncated from 65 chars"


def test_big_payload_is_cut_on_a_character_boundary() -> None:
    row = _row("水" * 10_000)  # 30,000 bytes of UTF-8
    payload = str(row["payload"])
    assert len(payload.encode()) <= MAX_PAYLOAD_BYTES and payload == "水" * (MAX_PAYLOAD_BYTES // 3)
    assert row["reason"] == "bad; payload truncated from 30000 bytes"


def test_long_reason_and_topic_are_bounded() -> None:
    row = _row(reason="r" * 5000, topic="t" * 5000)
    assert len(str(row["reason"])) < MAX_REASON_CHARS + 100 and "reason truncated from 5000 chars" in str(row["reason"])
    assert len(str(row["topic"])) == MAX_TOPIC_CHARS and "topic truncated" in str(row["reason"])


@pytest.mark.parametrize(
    ("fragment", "expected"),
    [
        (b"\xff\xfe{\x00}", "\ufffd\ufffd{\\u0000}"),
        ({"n": "S", "v": 1.5}, '{"n": "S", "v": 1.5}'),
        ({"n": "水"}, '{"n": "水"}'),
        ([float("nan")], "[NaN]"),
        ({(1, 2): 3}, "{(1, 2): 3}"),
        ({"s": {1, 2}}, '{"s": "{1, 2}"}'),
        (None, "null"),
        (Hostile(), "<unrenderable Hostile>"),
    ],
)
def test_fragments_are_rendered_as_text(fragment: object, expected: str) -> None:
    assert _row(fragment)["payload"] == expected


def test_deep_circular_and_huge_fragments_still_render() -> None:
    assert str(_row(_deep(100_000))["payload"]).startswith("<unrenderable list>")
    assert _row(_circular())["payload"] == "[[...]]"
    assert _row([10**5000])["payload"] == "<unrenderable list>"


def test_hostile_rows_are_accepted_by_postgres(db_engine: Engine) -> None:
    rows = [
        _row(
            "a\x00b\ud800c",
            sensor_id="S\x00" * 40,
            utility_id="u\udfff" * 70,
            topic="t\x00" * 2000,
            reason="r\x00\ud800" * 1000,
        ),
        _row(b"\x00\xff" * 20_000),
        _row(_deep(5000)),
        _row(Hostile()),
        _row({"n": "\ud800" * 10_000}, sensor_id=None, utility_id=None, topic=None),
        _row("x", transport="a-very-long-transport\x00"),
    ]
    back = _store(db_engine, rows)
    assert back == [{c: r[c] for c in COLUMNS} for r in rows]


def _anything() -> st.SearchStrategy[object]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(),
        st.binary(),
        st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
        st.just("\x00"),
        st.builds(Hostile),
        st.integers(min_value=10**4400, max_value=10**4401),
    )
    return st.recursive(
        scalars,
        lambda c: st.one_of(
            st.lists(c, max_size=5),
            st.tuples(c, c),
            st.dictionaries(st.text(max_size=5), c, max_size=5),
            st.frozensets(st.integers(), max_size=3),
        ),
        max_leaves=30,
    )


def _text() -> st.SearchStrategy[str]:
    """Any text, lone surrogates and NUL included (Hypothesis' default alphabet leaves surrogates out)."""
    chars = st.one_of(st.characters(), st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), st.just("\x00"))
    return st.one_of(st.text(chars, max_size=200), st.text(chars, min_size=900, max_size=1500))


@settings(
    max_examples=max_examples(250),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    fragment=st.one_of(_anything(), _text(), st.binary(max_size=40_000)),
    sensor_id=st.one_of(st.none(), _text()),
    utility_id=st.one_of(st.none(), _text()),
    topic=st.one_of(st.none(), _text()),
    reason=_text(),
    transport=_text(),
)
def test_any_dead_letter_is_accepted_by_postgres(
    db_engine: Engine,
    fragment: object,
    sensor_id: str | None,
    utility_id: str | None,
    topic: str | None,
    reason: str,
    transport: str,
) -> None:
    row = dead_letter_row(
        transport=transport, utility_id=utility_id, topic=topic, sensor_id=sensor_id, reason=reason, fragment=fragment
    )
    assert len(str(row["payload"]).encode()) <= MAX_PAYLOAD_BYTES
    assert row["sensor_id"] is None or len(str(row["sensor_id"])) <= MAX_ID_CHARS
    json.dumps(row, ensure_ascii=False).encode("utf-8")  # every field is valid UTF-8 text
    assert _store(db_engine, [row]) == [{c: row[c] for c in COLUMNS}]
