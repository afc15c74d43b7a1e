"""Properties over hostile input: the parser raises only PayloadError, validation and units never raise."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.parser import (
    MAX_ABS_TIME,
    MAX_NAME_CHARS,
    PayloadError,
    RawRecord,
    Rejection,
    _json_loads,
    _loads,
    parse_payload,
)
from ingest.units import ACCEPTED
from ingest.validate import UnitError, ValidationLimits, conversion, validate
from tests.examples import max_examples
from tests.ingest.conftest import SENSORS, FakeRegistry

NOW = 1_700_000_000.0
SETTINGS = settings(max_examples=max_examples(250), deadline=None)

CHARS = st.one_of(st.characters(), st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), st.just("\x00"))
TEXT = st.one_of(
    st.text(CHARS, max_size=12),
    st.sampled_from([s.sensor_id for s in SENSORS]),
    st.sampled_from(sorted({u for t in ACCEPTED.values() for u in t})),
    st.just("S" * 65),
)
NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**60), max_value=10**60),
    st.floats(),
    st.sampled_from([10**400, -(10**399), 1e300, -1e300, NOW, NOW - 60, 2**28, -(2**28), 1e11]),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
SENML_KEYS = st.sampled_from(
    ["bn", "bt", "bu", "bv", "bver", "n", "u", "v", "t", "vs", "vb", "s", "sensor_id", "sensor"]
)
JSONISH = st.recursive(
    SCALARS,
    lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(st.one_of(SENML_KEYS, TEXT), c, max_size=6)),
    max_leaves=40,
)
NAMES = st.one_of(st.sampled_from([s.sensor_id for s in SENSORS]), TEXT)
VALUES = st.one_of(NUMBERS, NUMBERS, JSONISH)
TIMES = st.one_of(st.floats(-1e4, 1e4), st.sampled_from([NOW - 60.0, NOW - 1e6]), NUMBERS, SCALARS)
UNITS = st.one_of(st.sampled_from(["kPa", "MPa", "K", "9**9**9", "("]), SCALARS)
# SenML-looking records (a name and a value, often a time, unit or base field), and anything dict-shaped.
RECORD = st.one_of(
    st.fixed_dictionaries({"n": NAMES, "v": VALUES}, optional={"t": TIMES, "u": UNITS}),
    st.fixed_dictionaries(
        {"n": NAMES, "v": VALUES},
        optional={
            "bn": st.one_of(st.just(""), TEXT),
            "bt": TIMES,
            "t": TIMES,
            "u": UNITS,
            "bu": UNITS,
            "bv": VALUES,
            "bver": SCALARS,
        },
    ),
    st.fixed_dictionaries({"v": VALUES}, optional={"sensor_id": st.one_of(NAMES, SCALARS), "t": TIMES, "u": UNITS}),
    st.dictionaries(SENML_KEYS, JSONISH, max_size=6),
)


def _nest(doc: Any, levels: list[bool]) -> Any:
    for as_dict in levels:
        doc = {"v": doc} if as_dict else [doc]
    return doc


def _check_outcome(payload: bytes | str, topic_sensor: str | None = None) -> None:
    """parse_payload returns well-formed records and rejections, or raises PayloadError: nothing else."""
    try:
        records, rejections = parse_payload(payload, topic_sensor=topic_sensor, now=NOW)
    except PayloadError as exc:
        assert str(exc)
        return
    for rec in records:
        assert type(rec) is RawRecord and type(rec.sensor_id) is str and type(rec.t) is float
        assert 0 < len(rec.sensor_id) <= MAX_NAME_CHARS and rec.sensor_id.isprintable()
        assert -MAX_ABS_TIME < rec.t < MAX_ABS_TIME + NOW
    for rej in rejections:
        assert type(rej) is Rejection and type(rej.reason) is str and rej.reason
        rej.reason.encode("utf-8")  # reasons quote hostile text with repr: always valid UTF-8
    registry = FakeRegistry()
    accepted, invalid = validate(records, utility_id=None, registry=registry, limits=ValidationLimits(), now=NOW)
    assert len(accepted) + len(invalid) == len(records)
    assert all(math.isfinite(r.value) and abs(r.value) <= 1e15 for r in accepted)


@SETTINGS
@given(st.binary(max_size=300))
def test_any_bytes(payload: bytes) -> None:
    _check_outcome(payload)


@SETTINGS
@given(
    st.one_of(st.lists(RECORD, max_size=8), RECORD, JSONISH),
    st.one_of(st.just([]), st.lists(st.booleans(), max_size=40)),
    st.booleans(),
    st.one_of(st.none(), TEXT),
)
def test_any_json_structure(doc: Any, levels: list[bool], ascii_only: bool, topic_sensor: str | None) -> None:
    text = json.dumps(_nest(doc, levels), ensure_ascii=ascii_only)
    _check_outcome(text, topic_sensor)
    if ascii_only:
        _check_outcome(text.encode(), topic_sensor)


@SETTINGS
@given(
    st.lists(
        st.builds(
            RawRecord,
            sensor_id=NAMES,
            t=st.one_of(st.floats(NOW - 1e5, NOW + 1e3), NUMBERS, SCALARS),
            value=VALUES,
            unit=st.one_of(st.none(), UNITS, JSONISH),
            fragment=JSONISH,
        ),
        max_size=10,
    ),
    st.one_of(st.none(), st.sampled_from(["waterco", "gasco"])),
)
def test_validate_never_raises(records: list[RawRecord], utility_id: str | None) -> None:
    accepted, rejected = validate(
        records, utility_id=utility_id, registry=FakeRegistry(), limits=ValidationLimits(), now=NOW
    )
    assert len(accepted) + len(rejected) == len(records)
    for reading in accepted:
        assert math.isfinite(reading.value) and abs(reading.value) <= 1e15
    for rej in rejected:
        assert type(rej.reason) is str and len(rej.reason) < 1000
        rej.reason.encode("utf-8")


@settings(max_examples=max_examples(300), deadline=None)
@given(
    st.one_of(st.text(CHARS), st.text(st.sampled_from("()*/^0123456789.eEkKmMPa%µ "), max_size=30), JSONISH),
    st.one_of(st.sampled_from(sorted(ACCEPTED)), st.text(CHARS, max_size=10)),
)
def test_conversion_raises_only_unit_error(sent: Any, canonical: str) -> None:
    try:
        scale, offset = conversion(sent, canonical)
    except UnitError as exc:
        assert len(str(exc)) < 1000
        str(exc).encode("utf-8")
        return
    assert math.isfinite(scale) and scale > 0 and math.isfinite(offset)
    assert sent == canonical or sent in ACCEPTED[canonical]


NUMBER_TEXT = st.from_regex(r"\A-?(0|[1-9][0-9]{0,45})(\.[0-9]{1,30})?([eE][+-]?[0-9]{1,4})?\Z")


def _same_decoding(payload: bytes | str) -> None:
    """The fast decoder reads ``payload`` exactly as ``json`` does: same values and types, same refusal."""
    try:
        fast: str = repr(_loads(payload))
    except PayloadError as exc:
        fast = f"PayloadError: {exc}"
    try:
        slow: str = repr(_json_loads(payload))
    except PayloadError as exc:
        slow = f"PayloadError: {exc}"
    assert fast == slow


@SETTINGS
@given(JSONISH, st.booleans(), st.sampled_from(["", "\ufeff", " \n"]))
def test_fast_decoder_reads_as_json_does(doc: Any, ascii_only: bool, prefix: str) -> None:
    text = prefix + json.dumps(doc, ensure_ascii=ascii_only)
    _same_decoding(text)
    for encoding in ("utf-8", "utf-16", "utf-32"):
        _same_decoding(text.encode(encoding, "surrogatepass"))


@SETTINGS
@given(st.lists(NUMBER_TEXT, min_size=1, max_size=6), st.binary(max_size=40))
def test_fast_decoder_reads_numbers_and_bytes_as_json_does(numbers: list[str], junk: bytes) -> None:
    _same_decoding("[" + ",".join(numbers) + "]")
    _same_decoding(('{"v":' + numbers[0] + "}").encode())
    _same_decoding(junk)
    _same_decoding(b'[{"n":"' + junk + b'","v":1}]')
