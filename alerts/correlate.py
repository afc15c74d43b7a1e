"""Correlation: an effect downstream of a problem already alerting joins that problem's alert.

A manhole below a blocked or overflowing one falls or rises because of it (docs/domain.md, drainage), so an
ungraded anomaly or risk there is evidence of the upstream alert, not a second problem, as long as the
downstream asset has no alert of its own for the hazard. A graded breach stays its own alert: it needs its
own response.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from alerts import store
from alerts.model import Signal, fingerprint
from alerts.signals import AssetInfo
from resilience.store.db import Connection


def own_graded(sig: Signal) -> bool:
    """The signal carries a graded breach of the asset's own (a standards limit, not only a score)."""
    if sig.source_type == "risk":
        return any(f.get("name") == "graded_breach" for f in sig.evidence.get("factors") or ())
    return str(sig.evidence.get("threshold_level") or "none") != "none"


def join_upstream_cause(conn: Connection, sig: Signal, asset_of: Callable[[str | None], AssetInfo | None]) -> Signal:
    """``sig`` moved onto the active alert of an asset it lies downstream of, or ``sig`` unchanged."""
    if not sig.active or not sig.scope.startswith("asset:") or own_graded(sig):
        return sig
    asset = asset_of(sig.asset_id)
    upstream = (asset.attributes.get("downstream_of") if asset else None) or []
    if not upstream:
        return sig
    own = store.get_alert(conn, fingerprint=sig.fingerprint)
    if own is not None and own.state.active:
        return sig
    for up in [upstream] if isinstance(upstream, str) else list(upstream):
        cause = store.get_alert(conn, fingerprint=fingerprint(f"asset:{up}", sig.hazard, sig.rule))
        if cause is not None and cause.state.active:
            key = sig.source_key if sig.source_key != "risk" else f"risk:{sig.scope}"
            return replace(
                sig,
                scope=cause.scope,
                asset_id=cause.asset_id,
                district_id=cause.district_id,
                source_key=key,
                evidence={**sig.evidence, "downstream_effect": sig.scope},
            )
    return sig
