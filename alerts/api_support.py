"""Helpers shared by the alert API routes: rules loading, JSON views and CAP areas."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from alerts import store
from alerts.cap import CapArea
from alerts.config import RulesConfig, load_rules
from alerts.model import Alert
from alerts.store.reads import alert_history
from resilience.core.domain import Level
from resilience.store.db import Connection


@lru_cache
def get_rules(path: str | None = None) -> RulesConfig:
    """Rules from ``settings.alerts_rules_path`` / RESILIENCE_ALERTS_RULES, else the defaults."""
    return load_rules(path or os.environ.get("RESILIENCE_ALERTS_RULES") or None)


def utcnow() -> datetime:
    return datetime.now(UTC)


def alert_view(a: Alert) -> dict[str, Any]:
    return {
        "id": a.id,
        "fingerprint": a.fingerprint,
        "rule": a.rule,
        "hazard": a.hazard,
        "scope": a.scope,
        "level": a.level.label,
        "peak_level": a.peak_level.label,
        "state": a.state.value,
        "asset_id": a.asset_id,
        "district_id": a.district_id,
        "utility_id": a.utility_id,
        "assigned_unit": a.assigned_unit,
        "sensor_kind": a.sensor_kind,
        "sensor_ids": a.sensor_ids,
        "source_type": a.source_type,
        "fire_count": a.fire_count,
        "version": a.version,
        "explanation": a.explanation,
        "evidence": a.evidence,
        "action_zh": a.action_zh,
        "action_en": a.action_en,
        "first_fired_at": a.first_fired_at,
        "fired_at": a.fired_at,
        "updated_at": a.updated_at,
        "cleared_at": a.cleared_at,
        # the condition behind the alert, followed whatever people did with the alert (active / cleared)
        "condition": "active" if a.condition_active else "cleared",
        "condition_since": a.cleared_at if not a.condition_active else a.condition_since,
        "onset_at": a.condition_since,
        "acknowledged_at": a.acknowledged_at,
        "acknowledged_by": a.acknowledged_by,
        "resolved_at": a.resolved_at,
        "resolved_by": a.resolved_by,
        "silenced": a.silenced,
        "inhibited": a.inhibited,
        "grouped_under": a.parent_fingerprint,
        "escalation_tier": a.escalation_tier,
    }


def history(conn: Connection, alert_id: int) -> dict[str, list[dict[str, Any]]]:
    rows = alert_history(conn, alert_id)
    tr, acts, notes = rows["transitions"], rows["actions"], rows["notifications"]
    return {
        "transitions": [{**dict(t), "level": Level(t["level"]).label if t["level"] is not None else None} for t in tr],
        "actions": [dict(a) for a in acts],
        "notifications": [delivery_view(n) for n in notes],
    }


def delivery_view(n: Any) -> dict[str, Any]:
    keys = (
        "id",
        "alert_id",
        "kind",
        "channel",
        "receiver",
        "target",
        "idempotency_key",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
        "delivered_at",
        "last_error",
    )
    out = {k: n[k] for k in keys}
    out["status_in_payload"] = (n["payload"] or {}).get("status")
    return out


def row_names(row: dict[str, Any]) -> tuple[str, str]:
    """A registry row's (Chinese, English) name: each language's own, else the other's, else ``name``."""
    fallback = row.get("name") or row["id"]
    return row.get("name_zh") or row.get("name_en") or fallback, row.get("name_en") or row.get("name_zh") or fallback


def cap_area(conn: Connection, a: Alert) -> CapArea:
    """Where the alert is, described in Chinese and English: the district, or the asset in its district."""
    asset = store.asset_info(conn, a.asset_id) if a.asset_id else None
    district = store.district_row(conn, a.district_id) if a.district_id else None
    d_zh, d_en = row_names(district) if district else ("", "")
    if a.scope.startswith("district:") and district and district.get("polygon"):
        return CapArea(description=d_zh, description_en=d_en, polygon=district["polygon"])
    if asset is not None and asset.lat is not None:
        a_zh, a_en = asset.names()
        zh = f"{d_zh}{a_zh}" if district else a_zh  # 瑶海区综合管廊 10
        en = f"{a_en}, {d_en}" if district else a_en
        return CapArea(description=zh, description_en=en, lat=asset.lat, lon=asset.lon)
    if district is not None:
        return CapArea(description=d_zh, description_en=d_en, polygon=district.get("polygon"))
    return CapArea(description=a.scope)
