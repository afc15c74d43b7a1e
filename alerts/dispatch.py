"""Dispatch: which message goes to which receiver, through which channel, and when; written to the outbox.

Alertmanager's dispatcher owns a group's timing; so does this stage. A firing the receiver never heard of is
due ``group_wait`` after it began (escalations within that wait are folded into the one message, whose
outbox row is rewritten while it waits); a rise after the receiver heard is due ``group_interval`` after
the previous message; an urgent level (red) is never held back; a reminder of an unresolved alert comes
every ``repeat_interval``. Each message is one outbox row per concrete target, with an idempotency key, so
a replayed event adds nothing. Sending, with retries, happens after the commit (``alerts/dispatcher.py``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from alerts import store
from alerts.explain import alert_explanation
from alerts.actions import headline
from alerts.channels.mqtt import topic_for
from alerts.config import RulesConfig
from alerts.dedup import LogEntry
from alerts.model import Alert
from alerts.pipeline import NotifyContext, firing_key
from alerts.signals import AssetInfo
from resilience.store.db import Connection

DELIVERY_RULE = "delivery_failed"


def alert_payload(a: Alert, asset: AssetInfo | None) -> dict[str, Any]:
    """The alert as receivers see it: bilingual headline, evidence and first action."""
    where = a.asset_id or a.district_id or a.scope
    where_zh, where_en = asset.names() if asset else (where, where)
    zh, en = headline(a.hazard, a.level, where_zh, where_en)
    return {
        "id": a.id,
        "fingerprint": a.fingerprint,
        "rule": a.rule,
        "hazard": a.hazard,
        "level": a.level.label,
        "state": a.state.value,
        "asset_id": a.asset_id,
        "asset_name": asset.name if asset else None,
        "asset_name_zh": where_zh if asset else None,
        "asset_name_en": where_en if asset else None,
        "district_id": a.district_id,
        "sensor_ids": a.sensor_ids,
        "headline_zh": zh,
        "headline_en": en,
        "explanation": a.explanation,
        "explanation_zh": alert_explanation(a.evidence, "zh-CN", a.explanation),
        "evidence": a.evidence,
        "action_zh": a.action_zh,
        "action_en": a.action_en,
        "fired_at": a.fired_at.isoformat(),
        "fire_count": a.fire_count,
        "reopened": a.fire_count > 1,  # this firing is a re-opening of an alert closed before
        "condition": "active" if a.condition_active else "cleared",
        "cleared_at": a.cleared_at.isoformat() if a.cleared_at else None,
        "assigned_unit": a.assigned_unit,
        "acknowledged_by": a.acknowledged_by,
        "resolved_by": a.resolved_by,
        "resolved_at": a.resolved_at.isoformat() if a.resolved_at else None,
    }


class Dispatch:
    """Routing, timing and the outbox writer for one transaction (``conn``) at one instant (``now``)."""

    def __init__(
        self, conn: Connection, rules: RulesConfig, now: datetime, asset_of: Callable[[str | None], AssetInfo | None]
    ) -> None:
        self.conn = conn
        self.rules = rules
        self.now = now
        self.asset_of = asset_of
        self.enqueued = 0

    def repeat_interval(self) -> timedelta:
        return timedelta(seconds=self.rules.defaults.repeat_interval_s)

    def last_notified(self, group_key: str, receiver: str) -> LogEntry | None:
        return store.last_notified(self.conn, group_key, receiver)

    def route(self, alert: Alert) -> list[str]:
        if alert.rule == DELIVERY_RULE:
            return list(self.rules.defaults.delivery_failure_receivers)
        return self.rules.route(alert.labels)

    def send_resolved(self, receiver: str) -> bool:
        return next((r.send_resolved for r in self.rules.receivers if r.name == receiver), True)

    def targets(self, receiver: str, alert: Alert) -> list[tuple[str, str]]:
        rc = self.rules.receiver(receiver)
        if rc.type == "webhook":
            return [("webhook", rc.url or "")]
        if rc.type == "email":
            return [("email", to) for to in rc.to]
        if rc.type == "mqtt":
            return [("mqtt", topic_for(alert.district_id, alert.level.label))]
        unit = alert.assigned_unit or alert.utility_id
        contacts = store.utility_contacts(self.conn, unit) if unit else None
        if not contacts:
            return []
        out = []
        if contacts.get("webhook_url"):
            out.append(("webhook", contacts["webhook_url"]))
        if contacts.get("contact_email"):
            out.append(("email", contacts["contact_email"]))
        return out

    def schedule(
        self, alert: Alert, receiver: str, last: LogEntry | None, firing: list[str]
    ) -> tuple[str | None, datetime]:
        """Which message (firing | update | resolved, None: nothing) and when it is due (Alertmanager timing).

        firing: the receiver never heard of this firing of the alert; due after group_wait, so escalations
        within it are folded into this one message (the outbox row is rewritten while it waits).
        update: the level rose after the receiver heard (due group_interval after the previous message),
        or a repeat of an unresolved alert (due now). Urgent levels (red) are never held back.
        """
        if not alert.state.active:
            return "resolved", self.now
        wait, interval = self.rules.timing(alert.rules, alert.labels, receiver)
        urgent = alert.level.label in self.rules.defaults.urgent_levels
        suffix = f":{alert.fire_count}"
        heard = last is not None and any(
            k.startswith(alert.fingerprint + ":") and k.endswith(suffix) for k in last.firing
        )
        if not heard:
            # Counted from when this firing began (event time), so a backlog being replayed is not held back.
            return "firing", self.now if urgent else max(self.now, alert.fired_at + timedelta(seconds=wait))
        assert last is not None
        if last.pending:  # still waiting to go out: rewrite it, keep its due time
            return "update", self.now if urgent else (last.due or self.now)
        rose = not set(firing) <= set(last.firing)
        if not rose:
            return "update", self.now  # repeat_interval reminder
        if not self.rules.defaults.update_on_level_rise:
            repeat = timedelta(seconds=self.rules.defaults.repeat_interval_s)
            return ("update", self.now) if self.now - last.ts >= repeat else (None, self.now)
        if urgent:
            return "update", self.now
        return "update", max(self.now, (last.due or last.ts) + timedelta(seconds=interval))

    def sink(
        self,
        ctx: NotifyContext,
        alerts: list[Alert],
        *,
        receiver: str | None = None,
        kind: str = "notify",
        tag: str = "",
    ) -> None:
        """Outbox writer: one row per concrete target, keyed so a replayed event adds nothing.

        ``kind="notify"`` (the pipeline) becomes firing, update or resolved (see ``schedule``);
        ``"escalation"`` (tick) goes out at once to the escalation tier's receivers.
        """
        receiver = receiver or ctx.receiver
        for alert in alerts:
            assert alert.id is not None
            status = "firing" if alert.state.active else "resolved"
            if kind == "escalation":
                firing, resolved, repeat = [firing_key(alert)], [], False
                msg_kind, due = kind, self.now
            else:
                firing, resolved = sorted(ctx.firing_ids), sorted(ctx.resolved_ids)
                last = store.last_notified(self.conn, alert.fingerprint, receiver)
                repeat = last is not None and set(last.firing) == set(firing) and set(last.resolved) == set(resolved)
                maybe_kind, due = self.schedule(alert, receiver, last, firing)
                if maybe_kind is None:
                    continue
                msg_kind = maybe_kind
            payload = {
                "schema": "lifeline.alert.v1",
                "kind": msg_kind,
                "status": status,
                "receiver": receiver,
                "alert": alert_payload(alert, self.asset_of(alert.asset_id)),
                "grouped": store.count_children(self.conn, alert.fingerprint),
            }
            for channel, target in self.targets(receiver, alert):
                if msg_kind == "resolved" and "firing" in store.cancel_unsent(
                    self.conn, alert.fingerprint, receiver=receiver, channel=channel, target=target, now=self.now
                ):
                    continue  # resolved before its first message went out: the receiver never heard of it
                basis = "|".join(
                    [
                        alert.fingerprint,
                        receiver,
                        channel,
                        target,
                        msg_kind,
                        tag,
                        *firing,
                        "/",
                        *resolved,
                        self.now.isoformat() if repeat else "",
                    ]
                )
                key = f"{alert.fingerprint}:{hashlib.sha256(basis.encode()).hexdigest()[:24]}"
                if store.enqueue(
                    self.conn,
                    alert_id=alert.id,
                    group_key=alert.fingerprint,
                    kind=msg_kind,
                    channel=channel,
                    receiver=receiver,
                    target=target,
                    idempotency_key=key,
                    payload=payload,
                    firing=firing,
                    resolved=resolved,
                    now=self.now,
                    due_at=due,
                    coalesce=msg_kind in ("firing", "update"),
                ):
                    self.enqueued += 1
