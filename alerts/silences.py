"""Silences and maintenance windows (Alertmanager silence/silence.go).

A silence mutes alerts whose labels match all its matchers between ``starts_at`` and ``ends_at``.
Silenced alerts are still stored and visible (``silenced`` flag); only their notifications stop.
``validate_silence`` rejects a silence that would match everything (all matchers match the empty
string), whose end is not after its start, that lasts longer than ``max_silence_duration()`` (7 days unless
RESILIENCE_SILENCE_MAX_DURATION_S says otherwise), or whose matcher values are longer than
``MAX_PATTERN_LENGTH``.

Regex matchers run on RE2 (``google-re2``), which matches in time linear in the input: a pattern such as
``(a+)+$`` cannot hang the engine the way it does Python's backtracking ``re``. RE2 has no backreferences or
lookaround; such patterns are rejected when the silence is created (and a stored one never matches).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import re2

log = logging.getLogger(__name__)

MAX_PATTERN_LENGTH = 256  # characters in one matcher value, regex or not
MAX_MATCHERS = 16
DEFAULT_MAX_SILENCE_DURATION = timedelta(days=7)
_RE2_MAX_MEM = 1 << 20  # bytes of RE2 program memory per pattern; a pattern needing more is rejected

MATCHABLE_LABELS = ("asset_id", "district_id", "sensor_kind", "hazard", "sensor_id", "alertname", "level", "utility_id")


class SilenceError(ValueError):
    """An invalid silence; the message says why."""


def max_silence_duration() -> timedelta:
    """The longest silence accepted: RESILIENCE_SILENCE_MAX_DURATION_S seconds if set, else 7 days."""
    raw = os.environ.get("RESILIENCE_SILENCE_MAX_DURATION_S", "").strip()
    if not raw:
        return DEFAULT_MAX_SILENCE_DURATION
    try:
        seconds = float(raw)
    except ValueError:
        raise SilenceError(f"RESILIENCE_SILENCE_MAX_DURATION_S={raw!r} is not a number of seconds") from None
    return timedelta(seconds=seconds) if seconds > 0 else DEFAULT_MAX_SILENCE_DURATION


@functools.lru_cache(maxsize=1024)
def _compile(pattern: str) -> Any:
    """The RE2 program for a pattern (cached: the silencer runs every matcher on every alert)."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise SilenceError(f"pattern longer than {MAX_PATTERN_LENGTH} characters")
    options = re2.Options()
    options.log_errors = False
    options.max_mem = _RE2_MAX_MEM
    try:
        return re2.compile(pattern, options=options)
    except re2.error as exc:
        why = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise SilenceError(why) from None


@functools.lru_cache(maxsize=1024)
def _program(pattern: str) -> Any:
    """``_compile`` for matching: a stored pattern RE2 cannot run (stored before RE2) matches nothing."""
    try:
        return _compile(pattern)
    except SilenceError as exc:
        log.warning("a stored silence pattern is not valid RE2 (%s); it matches nothing", exc)
        return None


@dataclass(frozen=True)
class Matcher:
    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True

    def matches(self, v: str) -> bool:
        if self.is_regex:
            program = _program(self.value)
            hit = program is not None and program.fullmatch(v) is not None
        else:
            hit = v == self.value
        return hit if self.is_equal else not hit


@dataclass(frozen=True)
class Silence:
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    id: int | None = None
    created_at: datetime | None = None

    def active_at(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, labels: dict[str, str]) -> bool:
        return all(m.matches(labels.get(m.name, "")) for m in self.matchers)


def validate_silence(s: Silence, *, max_duration: timedelta | None = None) -> None:
    """Raise SilenceError unless the silence is safe to store (and cheap to evaluate).

    ``max_duration`` defaults to ``max_silence_duration()``.
    """
    if not s.matchers:
        raise SilenceError("at least one matcher is required")
    if len(s.matchers) > MAX_MATCHERS:
        raise SilenceError(f"at most {MAX_MATCHERS} matchers per silence")
    for m in s.matchers:
        if m.name not in MATCHABLE_LABELS:
            raise SilenceError(f"unknown label {m.name!r}; use one of {', '.join(MATCHABLE_LABELS)}")
        if len(m.value) > MAX_PATTERN_LENGTH:
            raise SilenceError(f"matcher {m.name}: value longer than {MAX_PATTERN_LENGTH} characters")
        if m.is_regex:
            try:
                _compile(m.value)
            except SilenceError as exc:
                raise SilenceError(
                    f"invalid regex for {m.name} (RE2 syntax, no backreferences or lookaround): {exc}"
                ) from None
    if all(m.matches("") for m in s.matchers):
        raise SilenceError("at least one matcher must not match the empty string (it would silence everything)")
    if s.ends_at <= s.starts_at:
        raise SilenceError("end time must be after start time")
    limit = max_duration if max_duration is not None else max_silence_duration()
    if s.ends_at - s.starts_at > limit:
        raise SilenceError(
            f"a silence may last at most {_human(limit)} (this one lasts "
            f"{_human(s.ends_at - s.starts_at)}); create a new one when it ends"
        )
    if not s.created_by.strip():
        raise SilenceError("creator is required")
    if not s.comment.strip():
        raise SilenceError("a reason is required")


@dataclass
class Silencer:
    """Mutes labels matched by any silence active at ``now()``; expired silences stop applying."""

    silences: Iterable[Silence]
    now: Callable[[], datetime]
    _cache: list[Silence] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self._cache = list(self.silences)

    def silenced_by(self, labels: dict[str, str]) -> Silence | None:
        now = self.now()
        return next((s for s in self._cache if s.active_at(now) and s.matches(labels)), None)

    def mutes(self, labels: dict[str, str]) -> bool:
        return self.silenced_by(labels) is not None


def _human(d: timedelta) -> str:
    seconds = d.total_seconds()
    if seconds >= 86400 and seconds % 86400 == 0:
        return f"{seconds / 86400:g} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.4g} hours"
    return f"{seconds:g} s"
