"""Notification dedup (Alertmanager notify.go needsUpdate): notify only when something changed.

``last`` is the last notification recorded for a (group, receiver). A state key names one alert in one
state (fingerprint, level, fire count), so an escalation or re-firing is new, but the same firing
alert seen again is not, until ``repeat`` has passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class LogEntry:
    """What a receiver was last told about a group (a row of ``notification_log``)."""

    firing: frozenset[str]
    resolved: frozenset[str]
    ts: datetime
    due: datetime | None = None  # when that message was scheduled to go out (group_interval counts from it)
    pending: bool = False  # not sent yet (an outbox row still waiting for its group_wait)


def needs_update(
    last: LogEntry | None,
    firing: frozenset[str],
    resolved: frozenset[str],
    repeat: timedelta | None,
    now: datetime,
    *,
    send_resolved: bool = True,
) -> bool:
    """True when the receiver must be told about ``firing``/``resolved`` (``repeat=None`` never repeats)."""
    if last is None:
        return bool(firing)  # never tell anyone about an alert that resolved before it was ever sent
    if not firing <= last.firing:
        return True
    if not firing and last.firing:
        return send_resolved  # everything this receiver heard about is resolved now
    if send_resolved and not resolved <= last.resolved:
        return True
    return bool(firing) and repeat is not None and now - last.ts >= repeat
