"""What the alert service itself says (raised levels, system steps of the timeline), as message codes.

Messages (:mod:`resilience.core.messages`) let the console say an alert's explanation and the system's timeline
notes in the viewer's language. A signal carries its source's message (a detector's, a health event's);
the alert keeps it per rule in its evidence (``by_rule[rule].message``), and each system transition keeps
its message in ``data.message``. The English sentences stay as they were, for logs, webhooks and CAP; the
English catalogue's ``alertmsg.*`` entries are the templates here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from resilience.core.domain import Level
from resilience.core.messages import Message, codes_of, make, render
from resilience.core.translations import say

EN: dict[str, str] = {
    "alertmsg.raised": "{detail} Level raised one step: {sensor_kind} in a {kind} (coupled hazard).",
    "alertmsg.cleared": "condition cleared; resolves if it stays clear",
    "alertmsg.recurred": "condition returned before auto-resolve",
    "alertmsg.auto_resolved": "condition clear for {seconds} s",
    "alertmsg.cleared_after_resolve": "condition cleared after the alert was resolved",
    "alertmsg.resolved_override": "resolved while the condition still held (override): {note}",
    "alertmsg.reopened_active": "re-opened: the condition still held {seconds} s after it was resolved",
    "alertmsg.escalation": "not acknowledged; notifying {receivers}",
    "alertmsg.delivery_failed": "Notification {notification} for alert {alert} to {receiver} ({channel} {target}) "
    "failed after {attempts} attempts: {error}",
}
CODES = codes_of(EN)


def msg(code: str, **params: Any) -> Message:
    """An alert-service message (checked against ``CODES``)."""
    return make(CODES, code, params)


def render_en(message: Message | None) -> str:
    """The English sentence of an alert-service message."""
    return render(message, EN)


def system_note(code: str, **params: Any) -> tuple[str, dict[str, Any]]:
    """A system transition's English note and the ``data`` that carries its message."""
    m = msg(code, **params)
    return render_en(m), {"message": m}


def rules_explanation(evidence: Mapping[str, Any], say_rule: Callable[[Mapping[str, Any]], str]) -> str:
    """What an alert says from its evidence: each rule's latest explanation (``by_rule`` entries, said by
    ``say_rule``), most severe first (ties keep the rules' order), without repeats; "" if none says anything.
    The English ``Alert.explanation`` and the same in any language are both made here."""
    by_rule = evidence.get("by_rule") or {}
    rules = [r for r in evidence.get("rules") or [] if r in by_rule]
    ranked = sorted(rules, key=lambda r: -int(Level.parse(by_rule[r].get("level") or "none")))
    texts: list[str] = []
    for r in ranked:
        text = say_rule(by_rule[r])
        if text and text not in texts:
            texts.append(text)
    return " | ".join(texts)


def alert_explanation(evidence: Mapping[str, Any], lang: str, fallback: str = "") -> str:
    """An alert's explanation in ``lang``. A rule whose source said no message (stored before messages)
    keeps its English sentence; no rules at all, ``fallback``."""

    def say_rule(entry: Mapping[str, Any]) -> str:
        return say(entry["message"], lang) if entry.get("message") else str(entry.get("explanation") or "")

    return rules_explanation(evidence, say_rule) or fallback
