"""Muting: which firing alerts are silenced, inhibited or grouped under a parent, recomputed after a change.

Alertmanager mutes at notification time; here the flags are also stored on the alert (and every change of
them is a transition in its timeline), so the console and the API show why an alert is quiet. A newly
muted alert's messages still waiting in their group_wait are cancelled: the parent or the silence speaks
for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from alerts import store
from alerts.config import RulesConfig
from alerts.inhibit import HeldOrInhibited, Inhibitor, group_parent, group_parents, held_districts
from alerts.model import Alert, Transition
from alerts.silences import Silencer
from resilience.store.db import Connection


@dataclass
class Muting:
    """The firing set after recomputing, and the mutes the notification pipeline applies to it."""

    firing: list[Alert]
    inhibitor: HeldOrInhibited
    silencer: Silencer
    candidates: dict[str, Alert]  # fingerprint -> alert that may need telling


def _firing(conn: Connection, changed: list[Alert]) -> dict[str, Alert]:
    by_fp = {a.fingerprint: a for a in store.active_alerts(conn)}
    for a in changed:
        # The caller's object (so it sees its muting flags), unless a later save in this transaction
        # left it behind the row (a batch where another event touched it): that copy would be stale.
        fresh = by_fp.get(a.fingerprint)
        if a.state.active and (fresh is None or fresh.row_version <= a.row_version):
            by_fp[a.fingerprint] = a
    return by_fp


def recompute_muting(
    conn: Connection,
    rules: RulesConfig,
    now: datetime,
    changed: list[Alert],
    *,
    everything: bool,
    save: Callable[[Alert, list[Transition]], None],
) -> Muting:
    """Set every firing alert's muting flags; candidates are the changed alerts, those whose flags moved,
    and (``everything``) all firing ones."""
    by_fp = _firing(conn, changed)
    firing = list(by_fp.values())
    inhibitor = Inhibitor(rules.inhibit_rules, firing)
    held = held_districts(rules, firing)
    # A held district alert is no parent: the asset alerts speak for a single-asset incident.
    parents = group_parents(rules.group_rules, [a for a in firing if a.fingerprint not in held])
    silencer = Silencer(store.current_silences(conn, now), now=lambda: now)
    candidates = {a.fingerprint: by_fp.get(a.fingerprint, a) for a in changed}
    for a in firing:
        silenced_by = silencer.silenced_by(a.labels)
        inhibited_by = held.get(a.fingerprint) or inhibitor.inhibited_by(a.labels)
        parent = group_parent(a, rules.group_rules, firing, parents=parents)
        old = (a.silenced, a.inhibited, a.parent_fingerprint)
        was_muted = a.muted
        a.silenced, a.inhibited, a.parent_fingerprint = silenced_by is not None, inhibited_by is not None, parent
        if a.muted and not was_muted:
            # Messages still in their group_wait are superseded (the parent speaks for a grouped alert).
            store.cancel_unsent(conn, a.fingerprint, now=now)
        if old != (a.silenced, a.inhibited, a.parent_fingerprint):
            trs = []
            if old[0] != a.silenced:
                trs.append(
                    Transition(
                        "silenced" if a.silenced else "unsilenced",
                        now,
                        data={"silence_id": silenced_by.id if silenced_by else None},
                    )
                )
            if old[1] != a.inhibited:
                trs.append(Transition("inhibited" if a.inhibited else "uninhibited", now, data={"rule": inhibited_by}))
            if old[2] != a.parent_fingerprint:
                trs.append(
                    Transition(
                        "grouped" if a.parent_fingerprint else "ungrouped", now, data={"parent": a.parent_fingerprint}
                    )
                )
            save(a, trs)
            candidates[a.fingerprint] = a
        elif everything:
            candidates[a.fingerprint] = a
    return Muting(
        firing, HeldOrInhibited(inhibitor, [a for a in firing if a.fingerprint in held]), silencer, candidates
    )
