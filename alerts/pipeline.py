"""Notification pipeline (Alertmanager notify/notify.go): small stages with one method each.

``Stage.process(ctx, alerts) -> alerts``. The order is fixed in ``build_pipeline``: inhibit, silence,
group (children notify through their parent), route to receivers, then per (group, receiver) dedup and
enqueue into the outbox. Sending with retry and recording the notification log happen after the commit,
in the dispatcher (alerts/dispatcher.py), so a crash never loses an alert change's notifications.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from alerts.dedup import LogEntry, needs_update
from alerts.inhibit import Muter
from alerts.model import Alert, AlertState


@dataclass(frozen=True)
class NotifyContext:
    """Everything a stage may need besides the alerts; frozen so stages cannot leak state to each other."""

    now: datetime
    group_key: str = ""
    receiver: str = ""
    repeat_interval: timedelta | None = None
    firing_ids: frozenset[str] = field(default_factory=frozenset)
    resolved_ids: frozenset[str] = field(default_factory=frozenset)


class Stage(Protocol):
    def process(self, ctx: NotifyContext, alerts: list[Alert]) -> list[Alert]: ...


def firing_key(a: Alert) -> str:
    """One alert in one notifiable state: escalation or re-firing makes a new key."""
    return f"{a.fingerprint}:{a.level.label}:{a.fire_count}"


def resolved_key(a: Alert) -> str:
    return f"{a.fingerprint}:{a.fire_count}"


@dataclass
class Sequence:
    """Runs stages in order and stops as soon as no alerts are left."""

    stages: list[Stage]

    def process(self, ctx: NotifyContext, alerts: list[Alert]) -> list[Alert]:
        for stage in self.stages:
            if not alerts:
                return []
            alerts = stage.process(ctx, alerts)
        return alerts


@dataclass
class Fanout:
    """Runs every branch on the same input (e.g. one per channel of a receiver); returns what any passed."""

    branches: list[Stage]

    def process(self, ctx: NotifyContext, alerts: list[Alert]) -> list[Alert]:
        passed: dict[str, Alert] = {}
        for branch in self.branches:
            for a in branch.process(ctx, list(alerts)):
                passed[a.fingerprint] = a
        return [a for a in alerts if a.fingerprint in passed]


@dataclass
class MuteStage:
    """Drops firing alerts the muter mutes; resolved alerts pass so receivers hear the all-clear."""

    muter: Muter

    def process(self, ctx: NotifyContext, alerts: list[Alert]) -> list[Alert]:
        return [a for a in alerts if not a.state.active or not self.muter.mutes(a.labels)]


class GroupStage:
    """Drops alerts grouped under a parent: the parent's notification speaks for them."""

    def process(self, ctx: NotifyContext, alerts: list[Alert]) -> list[Alert]:
        return [a for a in alerts if a.parent_fingerprint is None or not a.state.active]


@dataclass
class ByReceiver:
    """Splits alerts by (receiver, group) and runs that receiver's branch with a matching ctx."""

    route: Callable[[Alert], list[str]]
    branch: Callable[[str], Stage]
    repeat_interval: timedelta | None

    def process(self, ctx: NotifyContext, alerts: list[Alert]) -> list[Alert]:
        groups: dict[tuple[str, str], list[Alert]] = {}
        for a in alerts:
            for receiver in self.route(a):
                groups.setdefault((receiver, a.fingerprint), []).append(a)
        out: dict[str, Alert] = {}
        for (receiver, group_key), members in sorted(groups.items()):
            # Someone already owns an acknowledged alert: do not keep repeating it.
            repeat = None if all(m.state is AlertState.ACKNOWLEDGED for m in members) else self.repeat_interval
            sub = replace(
                ctx,
                receiver=receiver,
                group_key=group_key,
                repeat_interval=repeat,
                firing_ids=frozenset(firing_key(m) for m in members if m.state.active),
                resolved_ids=frozenset(resolved_key(m) for m in members if not m.state.active),
            )
            for a in self.branch(receiver).process(sub, members):
                out[a.fingerprint] = a
        return list(out.values())


@dataclass
class DedupStage:
    """Passes the group only if the receiver must hear about it (see alerts.dedup.needs_update)."""

    log: Callable[[str, str], LogEntry | None]
    send_resolved: bool = True

    def process(self, ctx: NotifyContext, alerts: list[Alert]) -> list[Alert]:
        last = self.log(ctx.group_key, ctx.receiver)
        ok = needs_update(
            last, ctx.firing_ids, ctx.resolved_ids, ctx.repeat_interval, ctx.now, send_resolved=self.send_resolved
        )
        return alerts if ok else []


@dataclass
class EnqueueStage:
    """Hands the group to a sink (the outbox writer) and passes it on."""

    sink: Callable[[NotifyContext, list[Alert]], None]

    def process(self, ctx: NotifyContext, alerts: list[Alert]) -> list[Alert]:
        self.sink(ctx, alerts)
        return alerts


def build_pipeline(
    *,
    inhibitor: Muter,
    silencer: Muter,
    route: Callable[[Alert], list[str]],
    log: Callable[[str, str], LogEntry | None],
    sink: Callable[[NotifyContext, list[Alert]], None],
    repeat_interval: timedelta | None,
    send_resolved: Callable[[str], bool] = lambda receiver: True,
) -> Stage:
    """The one place that fixes the stage order."""
    return Sequence(
        [
            MuteStage(inhibitor),
            MuteStage(silencer),
            GroupStage(),
            ByReceiver(
                route=route,
                branch=lambda r: Sequence([DedupStage(log, send_resolved(r)), EnqueueStage(sink)]),
                repeat_interval=repeat_interval,
            ),
        ]
    )
