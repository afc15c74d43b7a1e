"""Each class of poison payload found by trying it is refused with a clear reason, never an exception."""

from __future__ import annotations

import json

import pytest

from ingest.parser import MAX_DEPTH, MAX_NAME_CHARS, MAX_RECORDS, PayloadError, RawRecord, Rejection, parse_payload

NOW = 1_700_000_000.0


def _one_rejection(payload: bytes | str, **kw: object) -> Rejection:
    records, rejections = parse_payload(payload, now=NOW, **kw)  # type: ignore[arg-type]
    assert records == [] and len(rejections) == 1, (records, rejections)
    return rejections[0]


def test_a_clean_pack_still_parses() -> None:
    pack = [{"bn": "S-", "bt": NOW - 60, "bu": "MPa", "n": "1", "v": 0.3}, {"n": "2", "t": 1, "v": 2, "u": "kPa"}]
    records, rejections = parse_payload(json.dumps(pack).encode(), now=NOW)
    assert rejections == []
    assert records == [RawRecord("S-1", NOW - 60, 0.3, "MPa", pack[0]), RawRecord("S-2", NOW - 59, 2.0, "kPa", pack[1])]


def test_value_of_400_digits_is_a_record_rejection() -> None:
    rej = _one_rejection('[{"n":"S1","v":1' + "0" * 399 + "}]")
    assert "too many digits" in rej.reason and rej.sensor_id == "S1"


def test_value_of_400_digits_after_a_base_value_does_not_overflow() -> None:
    rej = _one_rejection('[{"n":"S1","bv":1.5,"v":1' + "0" * 399 + "}]")
    assert "too many digits" in rej.reason


def test_float_literal_of_400_digits_is_infinite_not_an_overflow() -> None:
    records, rejections = parse_payload('[{"n":"S1","v":1' + "0" * 399 + ".5}]", now=NOW)
    assert rejections == [] and records[0].value == float("inf")  # validation rejects it as infinite


def test_integer_beyond_float_range_but_few_digits_is_out_of_range() -> None:
    rej = _one_rejection('[{"n":"S1","v":12345678901234567890}]')
    assert "out of range" in rej.reason


def test_integer_of_5000_digits_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="more than 4300 digits"):
        parse_payload('[{"n":"S1","v":' + "7" * 5000 + "}]", now=NOW)


@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_nesting_100000_deep_is_a_payload_error(opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    with pytest.raises(PayloadError, match=f"nested deeper than {MAX_DEPTH}"):
        parse_payload(opener * 100_000 + "1" + closer * 100_000, now=NOW)


def test_nesting_just_past_the_limit_is_refused_and_at_the_limit_parses() -> None:
    deep = "[" * (MAX_DEPTH + 1) + "1" + "]" * (MAX_DEPTH + 1)
    with pytest.raises(PayloadError, match="nested deeper"):
        parse_payload(deep, now=NOW)
    ok = "[" * MAX_DEPTH + "1" + "]" * MAX_DEPTH
    assert parse_payload(ok, now=NOW)[0] == []  # not a reading, but not a payload error either


def test_nesting_inside_a_record_value_is_refused() -> None:
    value = "[" * 40 + "]" * 40
    with pytest.raises(PayloadError, match="nested deeper"):
        parse_payload(f'[{{"n":"S1","v":1.0}},{{"n":"S1","v":{value}}}]', now=NOW)


def test_brackets_inside_strings_are_not_nesting() -> None:
    records, rejections = parse_payload(json.dumps([{"n": "S1", "v": 1.0, "vs": "[[[{{{" * 20}]), now=NOW)
    assert len(records) == 1 and rejections == []


def test_too_many_records_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match=f"too many records.*{MAX_RECORDS}"):
        parse_payload(json.dumps([{"n": "S", "v": 1}] * (MAX_RECORDS + 1)), now=NOW)


def test_name_over_64_characters_is_rejected() -> None:
    rej = _one_rejection(json.dumps([{"n": "S" * (MAX_NAME_CHARS + 1), "v": 1.0}]))
    assert f"longer than {MAX_NAME_CHARS} characters" in rej.reason and rej.sensor_id is None
    assert len(rej.reason) < 200  # the name is quoted cut short


def test_base_name_plus_name_over_64_characters_is_rejected() -> None:
    rej = _one_rejection(json.dumps([{"bn": "B" * 40, "n": "N" * 40, "v": 1.0}]))
    assert "longer than" in rej.reason


@pytest.mark.parametrize("name", ["S\ud800", "S\x00", "S\x1f", "S\x7f", "S\u2028", "S\u200b"])
def test_name_with_surrogate_nul_or_control_is_rejected(name: str) -> None:
    rej = _one_rejection(json.dumps([{"n": name, "v": 1.0}]))  # escaped in the JSON text
    assert "control, unprintable or surrogate" in rej.reason and rej.sensor_id is None
    rej.reason.encode("utf-8")  # the reason itself is safe text (the name is repr'd)


def test_raw_nul_in_payload_is_malformed_json() -> None:
    with pytest.raises(PayloadError, match="malformed JSON"):
        parse_payload(b'[{"n":"S\x001","v":1.0}]', now=NOW)


def test_unicode_name_is_fine() -> None:
    records, _ = parse_payload(json.dumps([{"n": "水位-µ1", "v": 1.0}]).encode(), now=NOW)
    assert records[0].sensor_id == "水位-µ1"


def test_topic_sensor_is_checked_like_a_name() -> None:
    rej = _one_rejection(json.dumps([{"v": 1.0}]), topic_sensor="T" * 65)
    assert "longer than" in rej.reason
    rej = _one_rejection(json.dumps({"v": 1.0}), topic_sensor="T\x00")
    assert "control" in rej.reason


@pytest.mark.parametrize("n", [5, None, ["a"], {"a": 1}, True])
def test_name_not_a_string_is_rejected(n: object) -> None:
    rej = _one_rejection(json.dumps([{"n": n, "v": 1.0}]))
    assert "'n' is not a string" in rej.reason


@pytest.mark.parametrize("bn", [5, None, ["a"], {"a": 1}, False])
def test_base_name_not_a_string_rejects_the_records_it_would_name(bn: object) -> None:
    pack = [{"bn": bn, "n": "1", "v": 1.0}, {"n": "2", "v": 2.0}, {"bn": "S", "n": "3", "v": 3.0}]
    records, rejections = parse_payload(json.dumps(pack), now=NOW)
    assert [r.reason for r in rejections] == ["SenML base name 'bn' is not a string"] * 2
    assert [r.sensor_id for r in records] == ["S3"]  # a valid bn later in the pack applies again


@pytest.mark.parametrize("t", ["1e300", "-1e300", "1" + "0" * 30, "1e11", "Infinity", "NaN"])
def test_absurd_time_is_rejected(t: str) -> None:
    rej = _one_rejection('[{"n":"S1","v":1.0,"t":' + t + "}]")
    assert rej.reason.startswith("bad time:")


@pytest.mark.parametrize("bt", ["1e300", "1" + "0" * 30, '"soon"', "true", "NaN"])
def test_absurd_base_time_is_rejected(bt: str) -> None:
    rej = _one_rejection('[{"n":"S1","v":1.0,"bt":' + bt + "}]")
    assert "base time 'bt'" in rej.reason


@pytest.mark.parametrize("bv", ["1e300", "1" + "0" * 30, '"x"', "true", "NaN"])
def test_absurd_base_value_is_rejected(bv: str) -> None:
    rej = _one_rejection('[{"n":"S1","v":1.0,"bv":' + bv + "}]")
    assert "base value 'bv'" in rej.reason


@pytest.mark.parametrize(
    "t",
    [
        "9999-12-31T23:59:59-23:59",
        "9999-12-31T23:59:59Z",
        "2024-01-01T00:00:00" + "0" * 80,
        "2024-01-01T00:00:00",
        "soon",
    ],
)
def test_time_strings_out_of_range_or_too_long_are_rejected(t: str) -> None:
    rej = _one_rejection(json.dumps([{"n": "S1", "v": 1.0, "t": t}]))
    assert rej.reason.startswith("bad time:")


def test_plain_reading_with_bad_sensor_id_or_time_is_rejected() -> None:
    assert "not a string" in _one_rejection(json.dumps({"sensor_id": 7, "v": 1.0})).reason
    assert "longer than" in _one_rejection(json.dumps({"sensor_id": "x" * 65, "v": 1.0})).reason
    assert "bad time" in _one_rejection(json.dumps({"sensor_id": "x", "v": 1.0, "t": 10**30})).reason


@pytest.mark.parametrize(
    "payload",
    [b"\xff\xfe\x00", b"\xef\xbb\xbf[]", b"", b"[]", b'"\\ud800"', b"1e400", "\ud800".encode("utf-8", "surrogatepass")],
)
def test_odd_payloads_are_payload_errors_or_rejections(payload: bytes) -> None:
    try:
        records, rejections = parse_payload(payload, now=NOW)
    except PayloadError:
        return
    assert records == [] and rejections
