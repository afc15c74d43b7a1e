"""Alert state changes and their notifications, inside the caller's transaction.

``AlertService(conn, rules, now)`` is used by the engine (events, ticks) and by the API (acknowledge,
resolve, ...), so both go through the same lifecycle, muting and outbox code: the alert change, its audit
entries and its outbox rows commit together or not at all.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any


from alerts import store
from alerts.actions import headline
from alerts.channels.mqtt import topic_for
from alerts.config import RulesConfig
from alerts.dedup import LogEntry
from alerts.inhibit import HeldOrInhibited, Inhibitor, group_parent, group_parents, held_districts
from alerts.lifecycle import (LifecycleError, acknowledge, apply_signal, auto_resolve, escalation_due, resolve,
                              review)
from alerts.model import Alert, DisposalStep, Signal, Transition, fingerprint
from alerts.pipeline import NotifyContext, build_pipeline, firing_key
from alerts.signals import AssetInfo, signals_for
from alerts.silences import Silencer
from resilience.domain import Level
from resilience.events import Event
from resilience.store.db import Connection

DELIVERY_RULE = "delivery_failed"


class NotFound(LookupError):
    """No alert with that id."""


@dataclass
class TickResult:
    resolved: int = 0
    escalated: int = 0
    delivery_failures: int = 0
    enqueued: int = 0
    changed: list[Alert] = field(default_factory=list)


def alert_payload(a: Alert, asset: AssetInfo | None) -> dict[str, Any]:
    """The alert as receivers see it: bilingual headline, evidence and first action."""
    where = (asset.name if asset and asset.name else a.asset_id) or a.district_id or a.scope
    zh, en = headline(a.hazard, a.level, where)
    return {
        "id": a.id, "fingerprint": a.fingerprint, "rule": a.rule, "hazard": a.hazard, "level": a.level.label,
        "state": a.state.value, "asset_id": a.asset_id, "asset_name": asset.name if asset else None,
        "district_id": a.district_id, "sensor_ids": a.sensor_ids, "headline_zh": zh, "headline_en": en,
        "explanation": a.explanation, "evidence": a.evidence, "action_zh": a.action_zh, "action_en": a.action_en,
        "fired_at": a.fired_at.isoformat(), "fire_count": a.fire_count, "assigned_unit": a.assigned_unit,
        "acknowledged_by": a.acknowledged_by, "resolved_by": a.resolved_by,
        "resolved_at": a.resolved_at.isoformat() if a.resolved_at else None,
    }


def _own_graded(sig: Signal) -> bool:
    """The signal carries a graded breach of the asset's own (a standards limit, not only a score)."""
    if sig.source_type == "risk":
        return any(f.get("name") == "graded_breach" for f in sig.evidence.get("factors") or ())
    return str(sig.evidence.get("threshold_level") or "none") != "none"


class AlertService:
    def __init__(self, conn: Connection, rules: RulesConfig, now: datetime) -> None:
        self.conn = conn
        self.rules = rules
        self.now = now
        self._assets: dict[str, AssetInfo | None] = {}
        self.enqueued = 0

    # -- lookups -------------------------------------------------------------------------------------
    def asset(self, asset_id: str | None) -> AssetInfo | None:
        if not asset_id:
            return None
        if asset_id not in self._assets:
            self._assets[asset_id] = store.asset_info(self.conn, asset_id)
        return self._assets[asset_id]

    def get(self, alert_id: int, *, for_update: bool = True) -> Alert:
        alert = store.get_alert(self.conn, alert_id=alert_id, for_update=for_update)
        if alert is None:
            raise NotFound(f"alert {alert_id} not found")
        return alert

    # -- events ----------------------------------------------------------------------------------------
    def handle(self, event: Event) -> list[Alert]:
        """Fold one event into alerts; returns the alerts that changed."""
        changed: list[Alert] = []
        for sig in signals_for(event, self.rules, self.asset):
            alert = self._apply(sig)
            if alert is not None:
                changed.append(alert)
        if changed:
            self._after_change(changed)
        return changed

    def handle_many(self, events: list[Event]) -> list[Alert]:
        """Fold a batch of events in order, then recompute muting and notify once for the whole batch.

        Same alerts and transitions as handling the events one by one; notifications reflect the state at the
        end of the batch (like a short group wait), and muting is recomputed once instead of once per event,
        which keeps an alert storm (thousands of silent sensors at once) linear in the number of alerts.
        """
        latest: dict[str, Alert] = {}
        changed: list[str] = []
        for event in events:
            for sig in signals_for(event, self.rules, self.asset):
                alert, moved = self._apply_signal(sig)
                if alert is None:
                    continue
                latest[alert.fingerprint] = alert  # the newest object is the one in the database
                if moved and alert.fingerprint not in changed:
                    changed.append(alert.fingerprint)
        out = [latest[fp] for fp in changed]
        if out:
            self._after_change(out)
        return out

    def _apply(self, sig: Signal) -> Alert | None:
        alert, moved = self._apply_signal(sig)
        return alert if moved else None

    def _apply_signal(self, sig: Signal) -> tuple[Alert | None, bool]:
        """The alert after ``sig`` (saved) and whether it took a transition."""
        if not sig.active and sig.source_key.startswith("risk:"):
            return self._clear_elsewhere(sig)
        sig = self._downstream_of_cause(sig)
        store.lock_fingerprint(self.conn, sig.fingerprint)
        alert = store.get_alert(self.conn, fingerprint=sig.fingerprint, for_update=True)
        if not sig.active and ":" in sig.source_key and (alert is None or sig.source_key not in alert.sources):
            return self._clear_elsewhere(sig)  # a unique source (anomaly:ID) may have joined its cause's alert
        if alert is None and not sig.active:
            return None, False
        asset = self.asset(sig.asset_id)
        alert, transitions = apply_signal(alert, sig, utility_id=asset.utility_id if asset else None,
                                          rules=self.rules)
        assert alert is not None
        store.save_alert(self.conn, alert)
        assert alert.id is not None
        store.add_transitions(self.conn, alert.id, transitions)
        return alert, bool(transitions)

    def _downstream_of_cause(self, sig: Signal) -> Signal:
        """An effect downstream of a problem already alerting joins that problem's alert.

        A manhole below a blocked or overflowing one falls or rises because of it (domain.md section 3), so
        an ungraded anomaly or risk there is evidence of the upstream alert, not a second problem, as long
        as the downstream asset has no alert of its own for the hazard. A graded breach stays its own alert:
        it needs its own response.
        """
        if not sig.active or not sig.scope.startswith("asset:") or _own_graded(sig):
            return sig
        asset = self.asset(sig.asset_id)
        upstream = (asset.attributes.get("downstream_of") if asset else None) or []
        if not upstream:
            return sig
        own = store.get_alert(self.conn, fingerprint=sig.fingerprint)
        if own is not None and own.state.active:
            return sig
        for up in [upstream] if isinstance(upstream, str) else list(upstream):
            cause = store.get_alert(self.conn, fingerprint=fingerprint(f"asset:{up}", sig.hazard, sig.rule))
            if cause is not None and cause.state.active:
                key = sig.source_key if sig.source_key != "risk" else f"risk:{sig.scope}"
                return replace(sig, scope=cause.scope, asset_id=cause.asset_id, district_id=cause.district_id,
                               source_key=key, evidence={**sig.evidence, "downstream_effect": sig.scope})
        return sig

    def _clear_elsewhere(self, sig: Signal) -> tuple[Alert | None, bool]:
        """A source that fed another alert (its cause's) ended: clear it wherever it is."""
        found: tuple[Alert | None, bool] = (None, False)
        for current in store.active_alerts_with_source(self.conn, sig.source_key, sig.hazard):
            alert, transitions = apply_signal(current, sig, rules=self.rules)
            assert alert is not None and alert.id is not None
            store.save_alert(self.conn, alert)
            store.add_transitions(self.conn, alert.id, transitions)
            if found[0] is None or transitions:
                found = (alert, bool(transitions))
        return found

    # -- periodic --------------------------------------------------------------------------------------
    def tick(self) -> TickResult:
        """Auto-resolve, escalate, raise alerts for failed deliveries, then notify (repeats included)."""
        result = TickResult()
        changed: dict[str, Alert] = {}
        for alert in store.active_alerts(self.conn):
            trs = auto_resolve(alert, self.now, self.rules.resolve_after_rules(alert.rules))
            if trs:
                result.resolved += 1
                self._save(alert, trs)
                changed[alert.fingerprint] = alert
        for failed in store.unalerted_failures(self.conn):
            raised = self._delivery_failure(failed)
            store.mark_failure_alerted(self.conn, failed["id"])
            if raised is not None:
                result.delivery_failures += 1
                changed[raised.fingerprint] = raised
        self._after_change(list(changed.values()), everything=True)
        for alert in store.active_alerts(self.conn):
            due = escalation_due(alert, self.rules.escalations, self.now)
            if due is None:
                continue
            alert.escalation_tier = due.tier + 1
            self._save(alert, [Transition("escalation", self.now, note=f"not acknowledged; notifying "
                                          f"{', '.join(due.receivers)}", data={"policy": due.policy,
                                                                               "tier": due.tier + 1})])
            ctx = NotifyContext(now=self.now, group_key=alert.fingerprint,
                                firing_ids=frozenset({firing_key(alert)}))
            for receiver in due.receivers:
                self._sink(ctx, [alert], receiver=receiver, kind="escalation", tag=f"esc{due.tier + 1}")
            result.escalated += 1
        result.enqueued = self.enqueued
        result.changed = list(changed.values())
        return result

    def _delivery_failure(self, failed: dict[str, Any]) -> Alert | None:
        if failed["kind"] in store.NOTIFY_KINDS and failed["payload"].get("alert", {}).get("rule") == DELIVERY_RULE:
            return None  # never alert about failing to deliver a delivery-failure alert (no loops)
        original = failed["payload"].get("alert", {})
        sig = Signal(
            rule=DELIVERY_RULE, hazard="delivery_failure", scope=f"receiver:{failed['receiver']}:{failed['channel']}",
            source_key=f"notification:{failed['id']}", active=True, ts=self.now,
            level=Level.parse(self.rules.defaults.delivery_failure_level), asset_id=original.get("asset_id"),
            district_id=original.get("district_id"), source_type="delivery",
            explanation=(f"Notification {failed['id']} for alert {failed['alert_id']} to {failed['receiver']} "
                         f"({failed['channel']} {failed['target']}) failed after {failed['attempts']} attempts: "
                         f"{failed['last_error']}"),
            evidence={"notification_id": failed["id"], "alert_id": failed["alert_id"], "target": failed["target"],
                      "last_error": failed["last_error"]},
        )
        return self._apply(sig)

    # -- human actions ---------------------------------------------------------------------------------
    def acknowledge(self, alert_id: int, *, by: str, note: str = "") -> Alert:
        alert = self.get(alert_id)
        self._save(alert, acknowledge(alert, by=by, note=note, now=self.now))
        self._after_change([alert])
        return alert

    def resolve(self, alert_id: int, *, by: str, note: str) -> Alert:
        alert = self.get(alert_id)
        self._save(alert, resolve(alert, by=by, note=note, now=self.now))
        self._after_change([alert])
        return alert

    def review(self, alert_id: int, *, by: str, note: str) -> Alert:
        alert = self.get(alert_id)
        self._save(alert, review(alert, by=by, note=note, now=self.now))
        return alert

    def assign(self, alert_id: int, *, unit: str, by: str, note: str = "") -> Alert:
        alert = self.get(alert_id)
        old = alert.assigned_unit
        alert.assigned_unit = unit
        alert.updated_at = self.now
        self._save(alert, [Transition("assigned", self.now, actor=by, note=note, data={"from": old, "to": unit})])
        assert alert.id is not None
        store.add_action(self.conn, alert_id=alert.id, fire_count=alert.fire_count, step="assign", unit=unit,
                         actor=by, note=note, ts=self.now)
        return alert

    def record_step(self, alert_id: int, *, step: str, by: str, note: str = "", at: datetime | None = None) -> Alert:
        """Disposal steps by the responsible unit; order is checked so reports stay meaningful."""
        s = DisposalStep(step)
        alert = self.get(alert_id)
        if alert.assigned_unit is None:
            raise LifecycleError("assign a responsible unit first")
        ts = at or self.now
        assert alert.id is not None
        store.add_action(self.conn, alert_id=alert.id, fire_count=alert.fire_count, step=s.value,
                         unit=alert.assigned_unit, actor=by, note=note, ts=ts)
        alert.updated_at = self.now
        self._save(alert, [Transition(s.value, ts, actor=by, note=note, data={"unit": alert.assigned_unit})])
        return alert

    def comment(self, alert_id: int, *, by: str, note: str) -> Alert:
        alert = self.get(alert_id, for_update=False)
        assert alert.id is not None
        store.add_action(self.conn, alert_id=alert.id, fire_count=alert.fire_count, step="comment",
                         unit=alert.assigned_unit, actor=by, note=note, ts=self.now)
        store.add_transitions(self.conn, alert.id, [Transition("comment", self.now, actor=by, note=note)])
        return alert

    def refresh(self) -> int:
        """Re-evaluate muting after a silence changed; returns notifications enqueued."""
        self._after_change([], everything=True)
        return self.enqueued

    # -- internals -------------------------------------------------------------------------------------
    def _save(self, alert: Alert, transitions: list[Transition]) -> None:
        store.save_alert(self.conn, alert)
        assert alert.id is not None
        store.add_transitions(self.conn, alert.id, transitions)

    def _after_change(self, changed: list[Alert], *, everything: bool = False) -> None:
        """Recompute muting flags, then run the notification pipeline over what may need telling."""
        by_fp = {a.fingerprint: a for a in store.active_alerts(self.conn)}
        for a in changed:
            # The caller's object (so it sees its muting flags), unless a later save in this transaction
            # left it behind the row (a batch where another event touched it): that copy would be stale.
            fresh = by_fp.get(a.fingerprint)
            if a.state.active and (fresh is None or fresh.row_version <= a.row_version):
                by_fp[a.fingerprint] = a
        firing = list(by_fp.values())
        inhibitor = Inhibitor(self.rules.inhibit_rules, firing)
        held = held_districts(self.rules, firing)
        # A held district alert is no parent: the asset alerts speak for a single-asset incident.
        parents = group_parents(self.rules.group_rules, [a for a in firing if a.fingerprint not in held])
        silencer = Silencer(store.current_silences(self.conn, self.now), now=lambda: self.now)
        candidates = {a.fingerprint: by_fp.get(a.fingerprint, a) for a in changed}
        for a in firing:
            labels = a.labels
            silenced_by = silencer.silenced_by(labels)
            flags = (silenced_by is not None, held.get(a.fingerprint) or inhibitor.inhibited_by(labels),
                     group_parent(a, self.rules.group_rules, firing, parents=parents))
            old = (a.silenced, a.inhibited, a.parent_fingerprint)
            was_muted = a.muted
            a.silenced, a.inhibited, a.parent_fingerprint = flags[0], flags[1] is not None, flags[2]
            if a.muted and not was_muted:
                # Messages still in their group_wait are superseded (the parent speaks for a grouped alert).
                store.cancel_unsent(self.conn, a.fingerprint, now=self.now)
            if old != (a.silenced, a.inhibited, a.parent_fingerprint):
                trs = []
                if old[0] != a.silenced:
                    trs.append(Transition("silenced" if a.silenced else "unsilenced", self.now,
                                          data={"silence_id": silenced_by.id if silenced_by else None}))
                if old[1] != a.inhibited:
                    trs.append(Transition("inhibited" if a.inhibited else "uninhibited", self.now,
                                          data={"rule": flags[1]}))
                if old[2] != a.parent_fingerprint:
                    trs.append(Transition("grouped" if a.parent_fingerprint else "ungrouped", self.now,
                                          data={"parent": a.parent_fingerprint}))
                self._save(a, trs)
                candidates[a.fingerprint] = a
            elif everything:
                candidates[a.fingerprint] = a
        pipeline = build_pipeline(
            inhibitor=HeldOrInhibited(inhibitor, [a for a in firing if a.fingerprint in held]), silencer=silencer,
            route=self._route,
            log=lambda g, r: store.last_notified(self.conn, g, r), sink=self._sink,
            repeat_interval=timedelta(seconds=self.rules.defaults.repeat_interval_s),
            send_resolved=lambda r: self._send_resolved(r),
        )
        pipeline.process(NotifyContext(now=self.now), list(candidates.values()))

    def _route(self, alert: Alert) -> list[str]:
        if alert.rule == DELIVERY_RULE:
            return list(self.rules.defaults.delivery_failure_receivers)
        return self.rules.route(alert.labels)

    def _send_resolved(self, receiver: str) -> bool:
        return next((r.send_resolved for r in self.rules.receivers if r.name == receiver), True)

    def _targets(self, receiver: str, alert: Alert) -> list[tuple[str, str]]:
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

    def _schedule(self, alert: Alert, receiver: str, last: LogEntry | None,
                  firing: list[str]) -> tuple[str | None, datetime]:
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
        heard = last is not None and any(k.startswith(alert.fingerprint + ":") and k.endswith(suffix)
                                         for k in last.firing)
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

    def _sink(self, ctx: NotifyContext, alerts: list[Alert], *, receiver: str | None = None,
              kind: str = "notify", tag: str = "") -> None:
        """Outbox writer: one row per concrete target, keyed so a replayed event adds nothing.

        ``kind="notify"`` (the pipeline) becomes firing, update or resolved (see ``_schedule``);
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
                maybe_kind, due = self._schedule(alert, receiver, last, firing)
                if maybe_kind is None:
                    continue
                msg_kind = maybe_kind
            payload = {
                "schema": "lifeline.alert.v1", "kind": msg_kind, "status": status, "receiver": receiver,
                "alert": alert_payload(alert, self.asset(alert.asset_id)),
                "grouped": store.count_children(self.conn, alert.fingerprint),
            }
            for channel, target in self._targets(receiver, alert):
                if msg_kind == "resolved" and "firing" in store.cancel_unsent(
                        self.conn, alert.fingerprint, receiver=receiver, channel=channel, target=target, now=self.now):
                    continue  # resolved before its first message went out: the receiver never heard of it
                basis = "|".join([alert.fingerprint, receiver, channel, target, msg_kind, tag, *firing, "/",
                                  *resolved, self.now.isoformat() if repeat else ""])
                key = f"{alert.fingerprint}:{hashlib.sha256(basis.encode()).hexdigest()[:24]}"
                if store.enqueue(self.conn, alert_id=alert.id, group_key=alert.fingerprint, kind=msg_kind,
                                 channel=channel, receiver=receiver, target=target, idempotency_key=key,
                                 payload=payload, firing=firing, resolved=resolved, now=self.now, due_at=due,
                                 coalesce=msg_kind in ("firing", "update")):
                    self.enqueued += 1
