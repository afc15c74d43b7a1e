"""Silences cost bounded time: RE2 matching (no catastrophic backtracking), bounded patterns, capped duration."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from alerts.silences import (
    DEFAULT_MAX_SILENCE_DURATION,
    MAX_PATTERN_LENGTH,
    Matcher,
    Silence,
    SilenceError,
    Silencer,
    max_silence_duration,
    validate_silence,
)
from tests.alerts.helpers import T0, at


def silence(*matchers: Matcher, hours: float = 2.0) -> Silence:
    return Silence(
        matchers=matchers, starts_at=T0, ends_at=T0 + timedelta(hours=hours), created_by="op", comment="maintenance"
    )


def test_catastrophic_pattern_matches_in_linear_time() -> None:
    """``(a+)+$`` against 'aaaa...b' takes Python's re exponential time (this test would never end); RE2
    answers. How fast: ``resilience bench silences`` (catastrophic_match_us=)."""
    s = silence(Matcher("asset_id", "(a+)+$", is_regex=True))
    validate_silence(s)
    labels = {"asset_id": "a" * 5000 + "b"}
    for _ in range(100):
        assert not s.matches(labels)
    assert s.matches({"asset_id": "aaaa"})


def test_regex_semantics_kept_for_ordinary_patterns() -> None:
    s = silence(Matcher("level", "blue|yellow", is_regex=True), Matcher("district_id", "d1"))
    silencer = Silencer([s], now=lambda: at(60))
    assert silencer.mutes({"level": "yellow", "district_id": "d1"})
    assert not silencer.mutes({"level": "yellowish", "district_id": "d1"})  # full match, not search
    assert not silencer.mutes({"level": "red", "district_id": "d1"})
    neg = silence(Matcher("asset_id", "a.*", is_regex=True, is_equal=False), Matcher("district_id", "d1"))
    assert neg.matches({"asset_id": "w1", "district_id": "d1"}) and not neg.matches(
        {"asset_id": "a1", "district_id": "d1"}
    )


@pytest.mark.parametrize("pattern", [r"(a)\1", r"(?=a)b", r"(?<!x)a", "("])
def test_patterns_re2_cannot_run_are_rejected(pattern: str) -> None:
    with pytest.raises(SilenceError, match="invalid regex for asset_id"):
        validate_silence(silence(Matcher("asset_id", pattern, is_regex=True)))


def test_stored_pattern_re2_rejects_matches_nothing() -> None:
    assert not Matcher("asset_id", r"(a)\1", is_regex=True).matches("aa")


def test_pattern_length_is_bounded() -> None:
    validate_silence(silence(Matcher("asset_id", "a" * MAX_PATTERN_LENGTH, is_regex=True)))
    for is_regex in (True, False):
        with pytest.raises(SilenceError, match=f"longer than {MAX_PATTERN_LENGTH}"):
            validate_silence(silence(Matcher("asset_id", "a" * (MAX_PATTERN_LENGTH + 1), is_regex=is_regex)))


def test_too_many_matchers_rejected() -> None:
    with pytest.raises(SilenceError, match="at most"):
        validate_silence(silence(*[Matcher("asset_id", f"a{i}") for i in range(17)]))


def test_duration_is_capped_and_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RESILIENCE_SILENCE_MAX_DURATION_S", raising=False)
    assert max_silence_duration() == DEFAULT_MAX_SILENCE_DURATION == timedelta(days=7)
    validate_silence(silence(Matcher("asset_id", "a1"), hours=7 * 24))
    with pytest.raises(SilenceError, match="at most 7 days"):
        validate_silence(silence(Matcher("asset_id", "a1"), hours=7 * 24 + 1))
    with pytest.raises(SilenceError, match="at most"):
        validate_silence(silence(Matcher("asset_id", "a1"), hours=3), max_duration=timedelta(hours=2))
    monkeypatch.setenv("RESILIENCE_SILENCE_MAX_DURATION_S", "3600")
    with pytest.raises(SilenceError, match="at most 1 hours"):
        validate_silence(silence(Matcher("asset_id", "a1"), hours=2))
    validate_silence(silence(Matcher("asset_id", "a1"), hours=1))


def test_api_answers_422_for_long_silence_and_bad_patterns(adb: Engine, api_client) -> None:  # type: ignore[no-untyped-def]
    c = api_client
    base = {"created_by": "op", "comment": "works", "starts_at": "2030-01-01T00:00:00Z"}
    long_ = c.post(
        "/api/v1/silences",
        json={**base, "matchers": [{"name": "asset_id", "value": "a1"}], "ends_at": "2030-01-09T00:00:00Z"},
    )
    assert long_.status_code == 422 and "at most 7 days" in long_.text
    evil = c.post(
        "/api/v1/silences",
        json={
            **base,
            "ends_at": "2030-01-01T02:00:00Z",
            "matchers": [{"name": "asset_id", "value": r"(a)\1", "is_regex": True}],
        },
    )
    assert evil.status_code == 422 and "RE2" in evil.text
    huge = c.post(
        "/api/v1/silences",
        json={**base, "ends_at": "2030-01-01T02:00:00Z", "matchers": [{"name": "asset_id", "value": "a" * 1000}]},
    )
    assert huge.status_code == 422
    ok = c.post(
        "/api/v1/silences",
        json={
            **base,
            "ends_at": "2030-01-08T00:00:00Z",
            "matchers": [{"name": "asset_id", "value": "(a+)+$", "is_regex": True}],
        },
    )
    assert ok.status_code == 201, ok.text
