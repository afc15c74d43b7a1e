"""Silences and maintenance windows (Alertmanager silence/silence.go).

A silence mutes alerts whose labels match all its matchers between ``starts_at`` and ``ends_at``.
Silenced alerts are still stored and visible (``silenced`` flag); only their notifications stop.
``validate_silence`` rejects a silence that would match everything (all matchers match the empty
string) or whose end is not after its start.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

MATCHABLE_LABELS = ("asset_id", "district_id", "sensor_kind", "hazard", "sensor_id", "alertname", "level", "utility_id")


class SilenceError(ValueError):
    """An invalid silence; the message says why."""


@dataclass(frozen=True)
class Matcher:
    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True

    def matches(self, v: str) -> bool:
        if self.is_regex:
            hit = re.fullmatch(self.value, v) is not None
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


def validate_silence(s: Silence) -> None:
    """Raise SilenceError unless the silence is safe to store."""
    if not s.matchers:
        raise SilenceError("at least one matcher is required")
    for m in s.matchers:
        if m.name not in MATCHABLE_LABELS:
            raise SilenceError(f"unknown label {m.name!r}; use one of {', '.join(MATCHABLE_LABELS)}")
        if m.is_regex:
            try:
                re.compile(m.value)
            except re.error as exc:
                raise SilenceError(f"invalid regex for {m.name}: {exc}") from None
    if all(m.matches("") for m in s.matchers):
        raise SilenceError("at least one matcher must not match the empty string (it would silence everything)")
    if s.ends_at <= s.starts_at:
        raise SilenceError("end time must be after start time")
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
