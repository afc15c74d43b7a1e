"""Validation turns every odd value, time and unit into a rejection with a reason, never an exception."""

from __future__ import annotations

import math
from typing import Any

import pytest

from ingest.parser import RawRecord, parse_payload
from ingest.validate import ValidationLimits, validate
from tests.ingest.conftest import FakeRegistry

NOW = 1_700_000_000.0
LIMITS = ValidationLimits()


def _reason(value: Any = 0.3, *, t: Any = NOW - 10, unit: Any = None, sensor: str = "P-1") -> str:
    accepted, rejected = validate(
        [RawRecord(sensor, t, value, unit, {"v": "fragment"})],
        utility_id="waterco",
        registry=FakeRegistry(),
        limits=LIMITS,
        now=NOW,
    )
    assert not accepted and len(rejected) == 1, (accepted, rejected)
    return rejected[0].reason


def test_a_good_reading_passes_and_converts() -> None:
    recs = [
        RawRecord("P-1", NOW - 10, 295, "kPa", {}),
        RawRecord("T-1", NOW - 5, 300.15, "K", {}),
        RawRecord("P-1", NOW - 1, 0.3, "MPa", {}),
    ]
    accepted, rejected = validate(recs, utility_id="waterco", registry=FakeRegistry(), limits=LIMITS, now=NOW)
    assert rejected == []
    assert [round(r.value, 9) for r in accepted] == [0.295, 27.0, 0.3] and [r.quality for r in accepted] == [1, 1, 0]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        pytest.param(10**5000, "too many digits", id="int-5001-digits"),
        (10**400, "too many digits"),
        (-(10**20), "out of range"),
        (True, "booleans are not readings"),
        (False, "booleans are not readings"),
        (float("nan"), "NaN"),
        (float("inf"), "NaN"),
        (-float("inf"), "NaN"),
        (1e300, "out of range"),
        ("12", "'12' is not a number"),
        ("x" * 10_000, "is not a number"),
        (None, "NoneType is not a number"),
        ([1.0], "list is not a number"),
        ({"v": 1}, "dict is not a number"),
    ],
)
def test_odd_values_are_rejected(value: Any, reason: str) -> None:
    why = _reason(value)
    assert reason in why and len(why) < 200


def test_value_out_of_range_after_conversion() -> None:
    assert "out of range after conversion" in _reason(1e12, unit="m3/s", sensor="F-1")


@pytest.mark.parametrize(
    ("t", "reason"),
    [
        (float("nan"), "not finite"),
        (float("inf"), "far in the future"),
        (-float("inf"), "older than retention"),
        (1e300, "far in the future"),
        (10**30, "out of range"),
        pytest.param(10**5000, "out of range", id="int-5001-digits"),
        ("2024-01-01", "str"),
        (None, "NoneType"),
        (True, "bool"),
        (NOW + 3600, "3600s in the future"),
        (int(NOW) - 5, None),
    ],
)
def test_odd_times_are_rejected(t: Any, reason: str | None) -> None:
    if reason is None:  # an int time inside the window is fine
        accepted, _ = validate(
            [RawRecord("P-1", t, 1.0, None, {})], utility_id=None, registry=FakeRegistry(), limits=LIMITS, now=NOW
        )
        assert accepted and accepted[0].ts.timestamp() == t
        return
    assert reason in _reason(t=t)


@pytest.mark.parametrize("unit", ["(", "1/0", "kPa**", "9**9**9", "\ud800", "\x00", "k" * 5000, "mpa"])
def test_poison_units_are_wrong_units(unit: str) -> None:
    why = _reason(unit=unit)
    assert why.startswith("wrong unit:") and "accepted:" in why and len(why) < 400


@pytest.mark.parametrize("unit", [5, 1.5, True, ["kPa"], {"u": "kPa"}])
def test_unit_not_a_string_is_a_wrong_unit(unit: Any) -> None:
    assert "wrong unit: unit is not a string" in _reason(unit=unit)


def test_unknown_decommissioned_and_foreign_sensors() -> None:
    assert "unknown sensor" in _reason(sensor="NOPE")
    assert "decommissioned" in _reason(sensor="OLD-1")
    assert "another utility" in _reason(sensor="CH4-1")


def test_pack_with_every_poison_accepts_only_the_good_record() -> None:
    payload = (
        '[{"n":"P-1","bt":' + str(NOW - 30) + ',"v":0.31},{"n":"P-1","v":1' + "0" * 399 + "},"
        '{"n":"P-1","v":true},{"n":"P-1","v":1e300},{"n":"P-1","v":0.2,"u":"9**9**9"},'
        '{"n":"P-1","v":0.2,"u":{"x":1}},{"n":"P-1","v":0.2,"t":1e300},{"n":"' + "P" * 65 + '","v":1}]'
    )
    records, rejections = parse_payload(payload, now=NOW)
    accepted, invalid = validate(records, utility_id="waterco", registry=FakeRegistry(), limits=LIMITS, now=NOW)
    assert [r.value for r in accepted] == [0.31]
    assert len(rejections) + len(invalid) == 7
    assert all(math.isfinite(r.value) for r in accepted)
