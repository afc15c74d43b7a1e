"""Alert state changes and their notifications, inside the caller's transaction.

``AlertService(conn, rules, now)`` is used by the engine (events, ticks) and by the API (acknowledge,
resolve, ...), so both go through the same lifecycle, muting and outbox code: the alert change, its audit
entries and its outbox rows commit together or not at all. It applies signals and people's actions to
alerts (``alerts.lifecycle``) and hands what changed to the stages, in Alertmanager's order:
``alerts.correlate`` (an effect joins its cause's alert), ``alerts.muting`` (silence, inhibit, group),
then the notification pipeline (``alerts.pipeline``) ending in ``alerts.dispatch`` (timing, outbox).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


from alerts import store
from alerts.config import RulesConfig
from alerts.correlate import join_upstream_cause
from alerts.dispatch import DELIVERY_RULE, Dispatch, alert_payload
from alerts.explain import msg, render_en, system_note
from alerts.lifecycle import (
    LifecycleError,
    acknowledge,
    apply_signal,
    auto_resolve,
    escalation_due,
    reopen_if_condition_holds,
    resolve,
    review,
)
from alerts.model import Alert, DisposalStep, Signal, Transition
from alerts.muting import recompute_muting
from alerts.pipeline import NotifyContext, build_pipeline, firing_key
from alerts.signals import AssetInfo, signals_for
from resilience.core.domain import Level
from resilience.core.events import Event
from resilience.store.db import Connection

__all__ = ["DELIVERY_RULE", "AlertService", "NotFound", "TickResult", "alert_payload"]


def check_step_order(step: DisposalStep, recorded: dict[str, datetime]) -> None:
    """Disposal steps go in their order, once per firing: a step before its predecessor, or one already
    recorded, is refused with the reason (the reports measure on-site and disposal times from them)."""
    order = list(DisposalStep)
    if step.value in recorded:
        at = recorded[step.value].isoformat()
        raise LifecycleError(f"{step.value} is already recorded for this firing (at {at})")
    index = order.index(step)
    if index > 0 and order[index - 1].value not in recorded:
        raise LifecycleError(f"{order[index - 1].value} must be recorded before {step.value}")


class NotFound(LookupError):
    """No alert with that id."""


REOPEN_LOOKBACK = timedelta(days=1)  # hand resolutions older than this are never re-opened by the tick


@dataclass
class TickResult:
    resolved: int = 0
    reopened: int = 0
    escalated: int = 0
    delivery_failures: int = 0
    enqueued: int = 0
    changed: list[Alert] = field(default_factory=list)


class AlertService:
    def __init__(self, conn: Connection, rules: RulesConfig, now: datetime) -> None:
        self.conn = conn
        self.rules = rules
        self.now = now
        self._assets: dict[str, AssetInfo | None] = {}
        self.dispatch = Dispatch(conn, rules, now, self.asset)

    @property
    def enqueued(self) -> int:
        """Outbox rows written by this service so far."""
        return self.dispatch.enqueued

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
        sig = join_upstream_cause(self.conn, sig, self.asset)
        store.lock_fingerprint(self.conn, sig.fingerprint)
        alert = store.get_alert(self.conn, fingerprint=sig.fingerprint, for_update=True)
        if not sig.active and ":" in sig.source_key and (alert is None or sig.source_key not in alert.sources):
            return self._clear_elsewhere(sig)  # a unique source (anomaly:ID) may have joined its cause's alert
        if alert is None and not sig.active:
            return None, False
        asset = self.asset(sig.asset_id)
        alert, transitions = apply_signal(alert, sig, utility_id=asset.utility_id if asset else None, rules=self.rules)
        assert alert is not None
        store.save_alert(self.conn, alert)
        assert alert.id is not None
        store.add_transitions(self.conn, alert.id, transitions)
        return alert, bool(transitions)

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
        for alert in store.resolved_alerts_holding_condition(self.conn, self.now - REOPEN_LOOKBACK):
            trs = reopen_if_condition_holds(alert, self.now, self.rules.reopen_after_rules(alert.rules), self.rules)
            if trs:
                result.reopened += 1
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
            said, data = system_note("alertmsg.escalation", receivers=", ".join(due.receivers))
            self._save(
                alert,
                [
                    Transition(
                        "escalation",
                        self.now,
                        note=said,
                        data={"policy": due.policy, "tier": due.tier + 1, **data},
                    )
                ],
            )
            ctx = NotifyContext(now=self.now, group_key=alert.fingerprint, firing_ids=frozenset({firing_key(alert)}))
            for receiver in due.receivers:
                self.dispatch.sink(ctx, [alert], receiver=receiver, kind="escalation", tag=f"esc{due.tier + 1}")
            result.escalated += 1
        result.enqueued = self.enqueued
        result.changed = list(changed.values())
        return result

    def _delivery_failure(self, failed: dict[str, Any]) -> Alert | None:
        if failed["kind"] in store.NOTIFY_KINDS and failed["payload"].get("alert", {}).get("rule") == DELIVERY_RULE:
            return None  # never alert about failing to deliver a delivery-failure alert (no loops)
        original = failed["payload"].get("alert", {})
        message = msg(
            "alertmsg.delivery_failed",
            notification=str(failed["id"]),
            alert=str(failed["alert_id"]),
            receiver=str(failed["receiver"]),
            channel=str(failed["channel"]),
            target=str(failed["target"]),
            attempts=str(failed["attempts"]),
            error=str(failed["last_error"]),
        )
        sig = Signal(
            rule=DELIVERY_RULE,
            hazard="delivery_failure",
            scope=f"receiver:{failed['receiver']}:{failed['channel']}",
            source_key=f"notification:{failed['id']}",
            active=True,
            ts=self.now,
            level=Level.parse(self.rules.defaults.delivery_failure_level),
            asset_id=original.get("asset_id"),
            district_id=original.get("district_id"),
            source_type="delivery",
            explanation=render_en(message),
            message=message,
            evidence={
                "notification_id": failed["id"],
                "alert_id": failed["alert_id"],
                "target": failed["target"],
                "last_error": failed["last_error"],
            },
        )
        return self._apply(sig)

    # -- human actions ---------------------------------------------------------------------------------
    def acknowledge(self, alert_id: int, *, by: str, note: str = "") -> Alert:
        """Acknowledge an alert; an incident's alert acknowledges its members with it (one loop to run)."""
        alert = self.get(alert_id)
        self._save(alert, acknowledge(alert, by=by, note=note, now=self.now))
        members = [m for m in store.active_children(self.conn, alert.fingerprint) if m.state.value == "firing"]
        for m in members:
            self._save(m, acknowledge(m, by=by, note=self._with_incident(note, alert), now=self.now))
        self._after_change([alert, *members])
        return alert

    def resolve(self, alert_id: int, *, by: str, note: str, override: bool = False) -> Alert:
        """Resolve an alert; an incident's alert resolves its members with it, under the same rule: while a
        member's condition holds, only with ``override`` (and it re-opens if the condition outlasts the hold)."""
        alert = self.get(alert_id)
        members = store.active_children(self.conn, alert.fingerprint)
        held = [m.id for m in members if m.condition_active]
        if held and not override:
            raise LifecycleError(
                f"members {', '.join(f'#{i}' for i in held)} of this incident still have an active condition: "
                "resolve with override and a reason to close them anyway"
            )
        self._save(alert, resolve(alert, by=by, note=note, now=self.now, override=override))
        for m in members:
            self._save(m, resolve(m, by=by, note=self._with_incident(note, alert), now=self.now, override=override))
        self._after_change([alert, *members])
        return alert

    @staticmethod
    def _with_incident(note: str, incident: Alert) -> str:
        return f"{note} (with incident #{incident.id})".strip()

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
        store.add_action(
            self.conn,
            alert_id=alert.id,
            fire_count=alert.fire_count,
            step="assign",
            unit=unit,
            actor=by,
            note=note,
            ts=self.now,
        )
        return alert

    def record_step(self, alert_id: int, *, step: str, by: str, note: str = "", at: datetime | None = None) -> Alert:
        """Disposal steps by the responsible unit; order is checked so reports stay meaningful."""
        s = DisposalStep(step)
        alert = self.get(alert_id)
        if alert.assigned_unit is None:
            raise LifecycleError("assign a responsible unit first")
        ts = at or self.now
        assert alert.id is not None
        check_step_order(s, store.recorded_steps(self.conn, alert.id, alert.fire_count))
        store.add_action(
            self.conn,
            alert_id=alert.id,
            fire_count=alert.fire_count,
            step=s.value,
            unit=alert.assigned_unit,
            actor=by,
            note=note,
            ts=ts,
        )
        alert.updated_at = self.now
        self._save(alert, [Transition(s.value, ts, actor=by, note=note, data={"unit": alert.assigned_unit})])
        return alert

    def comment(self, alert_id: int, *, by: str, note: str) -> Alert:
        alert = self.get(alert_id, for_update=False)
        assert alert.id is not None
        store.add_action(
            self.conn,
            alert_id=alert.id,
            fire_count=alert.fire_count,
            step="comment",
            unit=alert.assigned_unit,
            actor=by,
            note=note,
            ts=self.now,
        )
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
        muting = recompute_muting(self.conn, self.rules, self.now, changed, everything=everything, save=self._save)
        pipeline = build_pipeline(
            inhibitor=muting.inhibitor,
            silencer=muting.silencer,
            route=self.dispatch.route,
            log=self.dispatch.last_notified,
            sink=self.dispatch.sink,
            repeat_interval=self.dispatch.repeat_interval(),
            send_resolved=self.dispatch.send_resolved,
        )
        pipeline.process(NotifyContext(now=self.now), list(muting.candidates.values()))
